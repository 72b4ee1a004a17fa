"""The sinusoidal timestep features of DiT-family networks (IRASim, WPE): cosines first.

``features[k] = cos(t * f_k)``, ``features[half + k] = sin(t * f_k)`` with
``f_k = exp(-ln(10000) * k / half)``, in float32 whatever the network's dtype — the layout both
released DiT-style checkpoints were trained with, so one function serves both ports.
"""

from __future__ import annotations

import math

import torch


def timestep_features(t: torch.Tensor, size: int = 256) -> torch.Tensor:
    """t (...) -> (..., size) float32."""
    half = size // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
