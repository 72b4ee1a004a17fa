"""Adapter-only weights: the post-trained tensors (LoRA + action encoder) as safetensors.

``save_adapters`` writes the EMA of the trainable tensors with their facts (recipe, steps, base
model) in the metadata; ``load_adapters`` puts such tensors into a model that already carries
LoRA layers of the same rank. Accepted layouts: this module's own (keys as the model names its
parameters), a peft adapter folder (``adapter_model.safetensors`` with peft's
``base_model.model.`` prefix and no adapter name in the key), or a plain state dict in
safetensors; a key that fits no parameter is an error that lists what was found.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pwbench.errors import PwbenchError
from pwbench.io import atomic_path

ADAPTER_FILE = "adapter.safetensors"
PEFT_FILE = "adapter_model.safetensors"


class AdapterMismatch(PwbenchError):
    """Adapter weights that do not fit the model they are loaded into."""


def save_adapters(tensors: dict[str, torch.Tensor], folder: str | Path, facts: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ADAPTER_FILE
    state = {k: v.detach().float().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"pwbench": json.dumps(facts, sort_keys=True)})
    return path


def read_adapters(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and facts of an adapter folder (or file), in any accepted layout."""
    from safetensors import safe_open

    folder = Path(folder)
    candidates = [folder] if folder.is_file() else [folder / ADAPTER_FILE, folder / PEFT_FILE,
                                                      *sorted(folder.glob("*.safetensors"))]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise AdapterMismatch(f"no adapter weights in {folder} (expected {ADAPTER_FILE} or a peft {PEFT_FILE}); "
                              "post-train them with `pwbench posttrain persistworld` "
                              "(docs/reproducing-persistworld.md)")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        meta = json.loads((f.metadata() or {}).get("pwbench", "{}"))
    config = path.parent / "adapter_config.json"
    if config.is_file():
        meta.setdefault("peft_config", json.loads(config.read_text()))
    return tensors, meta


def _normalise(key: str) -> str:
    """peft's saved key -> the parameter name of a model with the ``default`` adapter injected."""
    for prefix in ("base_model.model.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    for part in ("lora_A", "lora_B"):
        key = key.replace(f".{part}.weight", f".{part}.default.weight")
    return key


def load_adapters(module: nn.Module, tensors: dict[str, torch.Tensor], names: list[str], where: str) -> None:
    """Copy ``tensors`` into the parameters ``names`` of ``module`` (each must be covered)."""
    params = dict(module.named_parameters())
    mapped: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in tensors.items():
        name = key if key in params else _normalise(key)
        (mapped.__setitem__(name, value) if name in params else unknown.append(key))
    missing = [n for n in names if n not in mapped]
    if unknown or missing:
        found = ", ".join(sorted(tensors)[:6]) + (" ..." if len(tensors) > 6 else "")
        raise AdapterMismatch(f"{where}: the adapter layout does not fit this model: {len(unknown)} keys match no "
                              f"parameter, {len(missing)} trained parameters have no value (keys found: {found})")
    with torch.no_grad():
        for name, value in mapped.items():
            if params[name].shape != value.shape:
                raise AdapterMismatch(f"{where}: {name} has shape {tuple(value.shape)}, the model's is "
                                      f"{tuple(params[name].shape)} (another LoRA rank?)")
            params[name].copy_(value.to(params[name].dtype))
