"""Loading IRASim's released Frame-Ada checkpoints, safely.

The released ``checkpoints/frame_ada/0300000.pt`` files (ByteDance's CDN, per-dataset tarballs;
not on the Hub) are full training checkpoints: ``{"model", "ema", "opt", "args"}``, where ``args``
is an OmegaConf ``DictConfig``. The original evaluation uses ``"ema"``. ``torch.load(...,
weights_only=True)`` refuses the file because of that config object, and loading it with
``weights_only=False`` would let the file run code. So the file is read with a **restricted
unpickler**: tensors, storages, ``OrderedDict`` and ``torch.Size`` are rebuilt; every other global
the pickle names (OmegaConf's classes, ``copyreg`` helpers) becomes an inert placeholder that runs
nothing — the same guarantee as ``weights_only``, for a file that carries foreign metadata.
A plain state dict, an ``{"ema": ...}`` dict saved with ``weights_only``-safe types, or a
``.safetensors`` file are accepted too.

``checkpoint_keys/<dataset>.json`` holds every key and shape of the released models, built from the
original code at a pinned commit; the tests build :mod:`baselines.irasim.config`'s configurations on
the meta device and compare.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch

from baselines.irasim.config import OFFICIAL, IRASimConfig
from baselines.irasim.model import IRASim
from pwbench.errors import PwbenchError

MANIFESTS = Path(__file__).with_name("checkpoint_keys")
MANIFEST_OF = {"rt1": "rt1", "bridge": "rt1", "languagetable": "languagetable"}  # Bridge's equals RT-1's
RELEASE_HINT = ("the released checkpoints are in the per-dataset tarballs linked from github.com/bytedance/IRASim "
                "(checkpoints/frame_ada/0300000.pt)")
_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("collections", "OrderedDict"),
    ("torch", "Size"),
}


class Foreign:
    """What any non-tensor object of the pickle becomes: it accepts whatever the pickle does to it
    (construction, state, items) and keeps nothing. No code from the file's classes ever runs."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __call__(self, *args, **kwargs) -> Foreign:
        return Foreign()

    def __setstate__(self, state) -> None:
        pass

    def __setitem__(self, key, value) -> None:
        pass

    def append(self, value) -> None:
        pass

    def extend(self, values) -> None:
        pass


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        return Foreign


class _RestrictedPickle:
    """The ``pickle_module`` torch.load uses (its storages are resolved by torch before us)."""

    Unpickler = _RestrictedUnpickler
    load = staticmethod(lambda f, **kw: _RestrictedUnpickler(f, **kw).load())
    __name__ = "pwbench-restricted-pickle"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The evaluated weights of a checkpoint file: its ``"ema"`` entry if any, else the dict itself."""
    path = Path(path)
    if not path.is_file():
        raise PwbenchError(f"IRASim checkpoint {path} not found; {RELEASE_HINT}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)
    except Exception as err:  # noqa: BLE001 - zip, pickle and storage errors share no base class
        raise PwbenchError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})") from err
    state = ckpt.get("ema", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PwbenchError(f"{path}: holds no state dict (expected a dict of tensors, or one under 'ema')")
    return state


def load_official(path: str | Path, dataset: str = "rt1", device: str = "cpu",
                  config: IRASimConfig | None = None) -> IRASim:
    """An IRASim Frame-Ada model with a released checkpoint's weights (``config``: another size,
    for tests). As the original evaluation, keys the model lacks are dropped; every key the model
    has must be there with its shape."""
    if dataset not in OFFICIAL:
        raise PwbenchError(f"IRASim was released for {', '.join(OFFICIAL)}, not {dataset!r}")
    state = read_state_dict(path)
    with torch.device("meta"):
        model = IRASim(config or OFFICIAL[dataset])
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    if missing or wrong:
        found = sorted(state)[:6]
        raise PwbenchError(f"{path} is not an IRASim {dataset} Frame-Ada checkpoint: {len(missing)} keys missing "
                           f"(e.g. {(missing or wrong)[0]}), {len(wrong)} with other shapes; keys found include "
                           f"{found}")
    model.load_state_dict({k: state[k] for k in expected}, strict=True, assign=True)
    return model.to(device).eval()


def manifest(dataset: str) -> dict:
    return json.loads((MANIFESTS / f"{MANIFEST_OF[dataset]}.json").read_text())

