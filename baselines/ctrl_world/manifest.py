"""The key manifest of the official checkpoint: every state-dict name and shape.

``python -m baselines.ctrl_world.manifest`` builds :data:`FULL` on the meta device (no tensor
memory is allocated) and writes ``checkpoint_keys.json``; the test suite rebuilds it and
compares exactly, so any change to the architecture that would break loading
``yjguo/Ctrl-World/checkpoint-10000.pt`` by name fails a fast test first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from baselines.ctrl_world.config import FULL, CtrlWorldConfig
from baselines.ctrl_world.model import CtrlWorld

MANIFEST_PATH = Path(__file__).with_name("checkpoint_keys.json")
PREFIXES = ("unet.", "vae.", "image_encoder.", "text_encoder.", "action_encoder.")


def build_meta(config: CtrlWorldConfig = FULL) -> CtrlWorld:
    """The model with every parameter and buffer on the meta device.

    diffusers' ``AlphaBlender`` makes its ``mix_factor`` with the legacy ``torch.Tensor([x])``
    constructor, which ignores the default device: 53 one-element CPU tensors in the full
    model (212 bytes, the only real allocation). They are moved to meta too.
    """
    with torch.device("meta"):
        model = CtrlWorld(config)
    return model.to("meta")


def key_shapes(model: torch.nn.Module) -> dict[str, list[int]]:
    return {name: list(t.shape) for name, t in model.state_dict().items()}


def manifest(config: CtrlWorldConfig = FULL) -> dict:
    keys = key_shapes(build_meta(config))
    return {
        "checkpoint": "yjguo/Ctrl-World/checkpoint-10000.pt",
        "derived_from": "published architecture (SVD img2vid UNet/VAE/image encoder, CLIP ViT-B/32 text, "
                        "Action_encoder2 7->1024), built with baselines.ctrl_world.config.FULL on the meta device",
        "num_keys": len(keys),
        "num_parameters": sum(int(torch.Size(s).numel()) for s in keys.values()),
        "prefix_counts": {p.rstrip("."): sum(k.startswith(p) for k in keys) for p in PREFIXES},
        "keys": keys,
    }


def render(data: dict) -> str:
    """JSON with one key per line (diff-friendly)."""
    head = {k: v for k, v in data.items() if k != "keys"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "keys": {']
    items = list(data["keys"].items())
    lines += [f" {json.dumps(k)}: {json.dumps(v)}" + ("," if i < len(items) - 1 else "")
              for i, (k, v) in enumerate(items)]
    return "\n".join(lines) + "\n }\n}\n"


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else MANIFEST_PATH
    data = manifest()
    out.write_text(render(data))
    print(f"wrote {out}: {data['num_keys']} keys, {data['num_parameters']:,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
