"""Key manifests of official checkpoints: every state-dict name and shape, in order.

A baseline that claims to load a released checkpoint commits the checkpoint's manifest and a test
that builds the full-size architecture on the meta device (no tensor memory) and compares names,
order and shapes exactly, so a change that would break loading fails a fast test first. Shared by
every baseline family (``baselines/*/manifest.py`` or ``checkpoint.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import torch
from torch import nn


def build_meta(factory: Callable[[], nn.Module]) -> nn.Module:
    """``factory()`` with every parameter and buffer on the meta device. Tensors made with legacy
    constructors that ignore the default device (diffusers' ``AlphaBlender``) are moved too."""
    with torch.device("meta"):
        model = factory()
    return model.to("meta")


def key_shapes(model: nn.Module) -> dict[str, list[int]]:
    return {name: list(t.shape) for name, t in model.state_dict().items()}


def num_parameters(keys: dict[str, list[int]]) -> int:
    return sum(int(torch.Size(s).numel()) for s in keys.values())


def render(data: dict) -> str:
    """JSON with one key per line (diff-friendly)."""
    head = {k: v for k, v in data.items() if k != "keys"}
    lines = [json.dumps(head, indent=1)[:-2] + ',\n "keys": {']
    items = list(data["keys"].items())
    lines += [f" {json.dumps(k)}: {json.dumps(v)}" + ("," if i < len(items) - 1 else "")
              for i, (k, v) in enumerate(items)]
    return "\n".join(lines) + "\n }\n}\n"
