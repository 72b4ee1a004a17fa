"""LoRA adapters (peft) on a module's attention projections, base weights frozen.

``add_lora`` injects peft's LoRA layers in place (the module keeps its class and its other
parameter names; adapters appear as ``...to_q.lora_A.default.weight`` and so on), so the same
model object still runs in the harness. B is zero-initialised by peft, so the adapted model
computes exactly the base model until training moves it.
"""

from __future__ import annotations

from torch import nn

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")  # diffusers' Attention, as DiffusionNFT targets


def add_lora(module: nn.Module, rank: int, alpha: float, targets: tuple[str, ...] = ATTENTION_PROJECTIONS,
             dropout: float = 0.0) -> list[str]:
    """Inject LoRA into every submodule whose name ends with one of ``targets``; returns their names."""
    from peft import LoraConfig, inject_adapter_in_model

    names = [n for n, _ in module.named_modules() if any(n == t or n.endswith("." + t) for t in targets)]
    if not names:
        raise ValueError(f"no submodule of {type(module).__name__} matches the LoRA targets {targets}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=names, bias="none")
    inject_adapter_in_model(config, module)
    return names


def lora_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in module.named_parameters() if ".lora_" in n]


def merge_lora(module: nn.Module) -> int:
    """Fold every LoRA update into its base weight (W += scale * B @ A) for inference: the adapted
    model then costs what the base costs. Training is over for this module (peft can unmerge, but
    nothing here does). Returns the number of merged layers."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in module.modules() if isinstance(m, BaseTunerLayer)]
    for layer in layers:
        layer.merge()
    return len(layers)
