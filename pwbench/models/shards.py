"""Small-model weights as safetensors shards: each file under 20 MB, facts in the metadata.

Shipped weights live in git, so no file may pass the repository's 20 MB cap; the fitted
statistics a model needs at inference (pose percentiles, latent scale, ...) and the training
facts travel in every shard's metadata (JSON values), so a folder of shards is self-describing.
Safetensors holds tensors only: loading runs no code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from pwbench.errors import PwbenchError
from pwbench.io import atomic_path

T = TypeVar("T")
SHARD_LIMIT_BYTES = 16 * 1000 * 1000  # well under the 20 MB cap
_SHARD_NAME = re.compile(r"model-(\d+)-of-(\d+)\.safetensors")


class SmallWeightsError(PwbenchError, FileNotFoundError):
    """Small-model weights are missing or belong to another configuration; the message says what to run."""


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
    """The shards of a folder (or the one file given); empty when there are none. A folder whose
    shards are not one complete set (``model.safetensors``, or ``model-i-of-n`` for every i of one
    n) is an error: :func:`save_shards` is atomic per file, so an interrupted re-export can leave
    two exports' shards side by side, and loading their union would be a silent mix."""
    folder = Path(folder)
    if not folder.is_dir():
        return [folder] if folder.is_file() else []
    files = sorted(folder.glob("model*.safetensors"))
    names = sorted(p.name for p in files)
    if names and names != ["model.safetensors"]:
        counts = {int(m.group(2)) for m in map(_SHARD_NAME.fullmatch, names) if m}
        expected = [f"model-{i:02d}-of-{n:02d}.safetensors" for n in counts for i in range(1, n + 1)]
        if len(counts) != 1 or names != expected:
            raise SmallWeightsError(f"the shards in {folder} are not one complete export ({', '.join(names)}); "
                                    "an export was interrupted or mixed: export the weights again")
    return files


def read_shards(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict and metadata of the shards ``files``."""
    return _read(files, tensors=True)


def read_shard_metadata(files: list[Path]) -> dict[str, Any]:
    """The metadata of the shards ``files``, without reading a tensor."""
    return _read(files, tensors=False)[1]


def _read(files: list[Path], tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Each shard opened once: its tensors (when asked) and its metadata, checked to be one export's."""
    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    metas = []
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            metas.append(_metadata(f))
            if tensors:
                state.update({k: f.get_tensor(k) for k in f.keys()})
    return state, _one_export(files, metas)


def _metadata(handle: Any) -> dict[str, Any]:
    """An open shard's metadata, each value JSON-decoded (how :func:`save_shards` writes it)."""
    return {k: json.loads(v) for k, v in (handle.metadata() or {}).items()}


def _one_export(files: list[Path], metas: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata every shard carries; shards of one export carry the same, so a difference means
    files of two exports (the same shard count, an interrupted re-export) and is an error."""
    for path, meta in zip(files[1:], metas[1:], strict=True):
        if meta != metas[0]:
            raise SmallWeightsError(f"{path} carries other metadata than {files[0]}: shards of two exports side "
                                    "by side (an interrupted export?); export the weights again")
    return metas[0] if metas else {}


def load_exactly(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """``load_state_dict(strict=True)``; on a mismatch, the first problem torch names (None when it fits)."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        return first_load_problem(err)
    return None


def first_load_problem(err: RuntimeError) -> str:
    """The first problem in torch's ``load_state_dict`` error: its text is a header line, then
    one line per problem (a missing or unexpected key, a size mismatch)."""
    lines = str(err).splitlines()
    return lines[1].strip() if len(lines) > 1 else str(err)


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
