"""The small residual recipe: the noise levels and condition noise every small model trains with.

One home for the numbers that make a small diffusion world model learn on a CPU (issue #8's
findings, docs/baselines/ctrl-world.md): diffuse the residual from the current frame with
sigma_data 0.5; train sigma log-normal(1.0, 1.6) clipped to [0.002, 200], so about one window in
ten is trained where only the conditioning can tell the chunk; sample with Euler over Karras
sigmas from 80 (EDM's default) — the first step must start where the chunk is truly hidden —
in as few steps as validation chooses; noise the condition frame with sigma_c ~ U(0, 0.3) in
training (context-noise augmentation against drift) and tell the network its level.
Every small model (Ctrl-World, IRASim, WPE) reads its settings from :data:`SMALL_RECIPE`, so the
comparison between them is a comparison of networks, not of recipes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pwbench.diffusion.schedule import KarrasSchedule, LogNormalSigma


@dataclass(frozen=True)
class ResidualRecipe:
    sigma_data: float = 0.5
    train_sigma: LogNormalSigma = LogNormalSigma(p_mean=1.0, p_std=1.6, clip_min=0.002, clip_max=200.0)
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    num_steps: int = 1  # chosen per model on its validation episodes
    cond_sigma_max: float = 0.3  # training: the condition frame's noise sigma_c ~ U(0, cond_sigma_max)

    def schedule(self, num_steps: int | None = None) -> KarrasSchedule:
        return KarrasSchedule(num_steps or self.num_steps, self.sigma_min, self.sigma_max, self.rho)


SMALL_RECIPE = ResidualRecipe()


def noised_condition(current: torch.Tensor, level: torch.Tensor | float, noise: torch.Tensor) -> torch.Tensor:
    """(current + level * noise) / sqrt(level^2 + 1): SVD's condition-noise augmentation, variance
    kept; ``level`` broadcasts from the front (one per row) or is a scalar."""
    level = torch.as_tensor(level, dtype=current.dtype, device=current.device)
    level = level.reshape(level.shape + (1,) * (current.ndim - level.ndim))
    return (current + level * noise) / (level**2 + 1).sqrt()
