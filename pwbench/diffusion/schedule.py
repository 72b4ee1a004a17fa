"""Noise levels: the training sigma distribution and the sampler's sigma schedule.

Training draws ``sigma = exp(N(p_mean, p_std^2))``, optionally clipped to ``[sigma_min, sigma_max]``
(EDM's log-normal; DIAMOND clips to 20). Sampling walks Karras et al.'s schedule
``(hi + ramp * (lo - hi))^rho`` from sigma_max to sigma_min and then to 0, which is also what SVD's
``EulerDiscreteScheduler(use_karras_sigmas=True)`` computes (tested against it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LogNormalSigma:
    """sigma = exp(p_mean + p_std * N(0, 1)), clipped to [clip_min, clip_max] when given."""

    p_mean: float
    p_std: float
    clip_min: float | None = None
    clip_max: float | None = None

    def __post_init__(self) -> None:
        if self.p_std <= 0:
            raise ValueError(f"p_std must be positive, got {self.p_std}")
        if self.clip_min is not None and self.clip_max is not None and self.clip_min >= self.clip_max:
            raise ValueError(f"clip_min {self.clip_min} must be below clip_max {self.clip_max}")

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        sigma = (z * self.p_std + self.p_mean).exp()
        if self.clip_min is not None or self.clip_max is not None:
            sigma = sigma.clamp(self.clip_min, self.clip_max)
        return sigma


@dataclass(frozen=True)
class KarrasSchedule:
    """num_steps sigmas from sigma_max down to sigma_min (spacing rho), then a final 0."""

    num_steps: int
    sigma_min: float
    sigma_max: float
    rho: float = 7.0

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    def sigmas(self) -> torch.Tensor:
        return karras_sigmas(self.num_steps, self.sigma_min, self.sigma_max, self.rho)


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """num_steps decreasing sigmas from sigma_max to sigma_min, then a final 0 (float32).
    One step is sigma_max alone (numpy's linspace of one point starts at 0)."""
    ramp = np.linspace(0, 1, num_steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
