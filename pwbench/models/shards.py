"""Small-model weights as safetensors shards: each file under 20 MB, facts in the metadata.

Shipped weights live in git, so no file may pass the repository's 20 MB cap; the fitted
statistics a model needs at inference (pose percentiles, latent scale, ...) and the training
facts travel in every shard's metadata (JSON values), so a folder of shards is self-describing.
Safetensors holds tensors only: loading runs no code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from pwbench.errors import PwbenchError
from pwbench.io import atomic_path

T = TypeVar("T")
SHARD_LIMIT_BYTES = 16 * 1000 * 1000  # well under the 20 MB cap


def save_shards(state: dict[str, torch.Tensor], folder: str | Path, metadata: dict[str, Any],
                limit: int = SHARD_LIMIT_BYTES) -> list[Path]:
    """Write ``state`` (as float32, keys sorted) into ``model[-i-of-n].safetensors``, each shard
    atomically; older shards of another count go once the new ones are written."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in state.items()}
    groups: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for key in sorted(tensors):
        size = tensors[key].numel() * 4
        if groups[-1] and used + size > limit:
            groups.append({})
            used = 0
        groups[-1][key] = tensors[key]
        used += size
    meta = {k: json.dumps(v) for k, v in metadata.items()}
    paths = []
    for i, group in enumerate(groups):
        name = f"model-{i + 1:02d}-of-{len(groups):02d}.safetensors" if len(groups) > 1 else "model.safetensors"
        with atomic_path(folder / name) as tmp:  # the umask's mode, and no half-written shard
            save_file(group, str(tmp), metadata=meta)
        paths.append(folder / name)
    for stale in set(folder.glob("model*.safetensors")) - set(paths):  # another shard count's files
        stale.unlink()
    return paths


def shard_files(folder: str | Path) -> list[Path]:
    """The shards of a folder (or the one file given); empty when there are none."""
    folder = Path(folder)
    if folder.is_dir():
        return sorted(folder.glob("model*.safetensors"))
    return [folder] if folder.is_file() else []


def read_shards(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict and metadata of the shards ``files``."""
    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            meta.update(_metadata(f))
            state.update({k: f.get_tensor(k) for k in f.keys()})
    return state, meta


def read_shard_metadata(files: list[Path]) -> dict[str, Any]:
    """The metadata of the shards ``files``, without reading a tensor."""
    from safetensors import safe_open

    meta: dict[str, Any] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            meta.update(_metadata(f))
    return meta


def _metadata(handle: Any) -> dict[str, Any]:
    """An open shard's metadata, each value JSON-decoded (how :func:`save_shards` writes it)."""
    return {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}


def load_exactly(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """``load_state_dict(strict=True)``; on a mismatch, the first line torch names (None when it fits)."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        lines = str(err).splitlines()
        return lines[1].strip() if len(lines) > 1 else str(err)
    return None


class SmallWeightsError(PwbenchError, FileNotFoundError):
    """Small-model weights are missing or belong to another configuration; the message says what to run."""


def trained_config(folder: str | Path, configs: Mapping[str, T], what: str, train_command: str) -> T:
    """The configuration the shards in ``folder`` name in their metadata (``config``, which every
    export writes), out of a family's ``configs`` by name; an unknown name is an error, never a guess."""
    files = shard_files(folder)
    if not files:
        raise SmallWeightsError(f"no {what} weights in {folder}; train them with `{train_command}`")
    name = read_shard_metadata(files).get("config")
    if name not in configs:
        raise SmallWeightsError(f"the weights in {folder} were trained as {name!r}, not a {what} "
                                f"configuration ({', '.join(configs)})")
    return configs[name]


def load_small_model(build: Callable[[], torch.nn.Module], folder: str | Path, what: str, train_command: str,
                     device: str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """``build()`` with the shards of ``folder`` loaded strictly, in eval mode, and their metadata."""
    files = shard_files(folder)
    if not files:
        raise SmallWeightsError(f"no {what} weights in {folder}; train them with `{train_command}`")
    state, meta = read_shards(files)
    model = build()
    problem = load_exactly(model, state)
    if problem:
        raise SmallWeightsError(f"the weights in {folder} do not fit {getattr(model.config, 'name', what)} "
                                f"(trained as {meta.get('config', '?')!r}): {problem}. Retrain with `{train_command}`.")
    return model.to(device).eval(), meta
