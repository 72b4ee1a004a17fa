"""The key manifest of the official checkpoint: every state-dict name and shape.

``python -m baselines.ctrl_world.manifest`` builds :data:`FULL` on the meta device (no tensor
memory is allocated) and writes ``checkpoint_keys.json``; the test suite rebuilds it and
compares exactly, so any change to the architecture that would break loading
``yjguo/Ctrl-World/checkpoint-10000.pt`` by name fails a fast test first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from baselines.ctrl_world.config import FULL, CtrlWorldConfig
from baselines.ctrl_world.model import CtrlWorld
from pwbench.models.manifest import build_meta as meta_model
from pwbench.models.manifest import key_shapes, num_parameters, render

MANIFEST_PATH = Path(__file__).with_name("checkpoint_keys.json")
PREFIXES = ("unet.", "vae.", "image_encoder.", "text_encoder.", "action_encoder.")


def build_meta(config: CtrlWorldConfig = FULL) -> CtrlWorld:
    """The model with every parameter and buffer on the meta device (diffusers' ``AlphaBlender``
    makes 53 one-element CPU tensors with a legacy constructor: moved to meta too)."""
    return meta_model(lambda: CtrlWorld(config))


def manifest(config: CtrlWorldConfig = FULL) -> dict:
    keys = key_shapes(build_meta(config))
    return {
        "checkpoint": "yjguo/Ctrl-World/checkpoint-10000.pt",
        "derived_from": "published architecture (SVD img2vid UNet/VAE/image encoder, CLIP ViT-B/32 text, "
                        "Action_encoder2 7->1024), built with baselines.ctrl_world.config.FULL on the meta device",
        "num_keys": len(keys),
        "num_parameters": num_parameters(keys),
        "prefix_counts": {p.rstrip("."): sum(k.startswith(p) for k in keys) for p in PREFIXES},
        "keys": keys,
    }


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else MANIFEST_PATH
    data = manifest()
    out.write_text(render(data))
    print(f"wrote {out}: {data['num_keys']} keys, {data['num_parameters']:,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
