"""Loading WPE's released checkpoints and their key manifests.

Two files were released with world-model-eval: ``mixed_openx_9robots_20frames_0p1actiondropout_
580ksteps.pt`` (a training checkpoint ``{"model", "ema", "optimizer", "step"}``; the evaluation
uses ``"ema"``) and ``bridge_v2_ckpt.pt`` (the bare state dict). Both hold only tensors and plain
containers, so they open with ``torch.load(weights_only=True)`` (no pickled code runs) and
``mmap=True`` (the ~9 GB file is paged in, not copied) into a model built on the meta device.
``checkpoint_keys/<name>.json`` lists every key and shape, made from the original class.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from baselines.wpe.config import OFFICIAL, WPEConfig
from baselines.wpe.model import WPE
from pwbench.errors import PwbenchError

MANIFESTS = Path(__file__).with_name("checkpoint_keys")
RELEASE_HINT = "the checkpoints are linked from the README of github.com/world-model-eval/world-model-eval"


def load_official(path: str | Path, name: str = "bridge_v2", device: str = "cpu",
                  config: WPEConfig | None = None) -> WPE:
    """A WPE model with a released checkpoint's weights (``config``: another size, for tests)."""
    if name not in OFFICIAL:
        raise PwbenchError(f"WPE was released as {', '.join(OFFICIAL)}, not {name!r}")
    path = Path(path)
    if not path.is_file():
        raise PwbenchError(f"{path} does not exist; {RELEASE_HINT}")
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if isinstance(state, dict) and "ema" in state:
        state = state["ema"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise PwbenchError(f"{path}: holds no state dict (expected name -> tensor, or one under 'ema')")
    with torch.device("meta"):
        model = WPE(config or OFFICIAL[name])
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise PwbenchError(f"{path} is not a WPE {name} checkpoint: {str(err).splitlines()[1].strip()}") from err
    return model.to(device).eval()


def manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())
