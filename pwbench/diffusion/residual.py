"""Residual parameterisation: diffuse the change from the current frame, not the frame itself.

A world model's next frame is mostly the current one. Diffusing ``z_future - z_current`` (Yang
et al. 2022, "Diffusion Probabilistic Modeling for Video Generation", report residuals beat direct
prediction, BAIR robot pushing included) turns "copy the scene" into the zero residual, which an
output layer initialised at zero already predicts in expectation, so training time goes into
motion. History frames are given to the network as residuals too (same scale, zero when static).
"""

from __future__ import annotations

import torch


def to_residual(latents: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """latents (B, F, ...) and current (B, ...) -> latents - current per frame."""
    return latents - current[:, None]


def from_residual(residual: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    return residual + current[:, None]


def zero_init_(module: torch.nn.Module) -> torch.nn.Module:
    """Zero a layer's weights and bias, so the network's raw output starts at exactly 0."""
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module
