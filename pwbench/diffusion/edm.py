"""EDM preconditioning (Karras et al. 2022) with a free sigma_data and SVD's v-prediction sign.

``D(x; sigma) = c_skip * x + c_out * F(c_in * x, c_noise)`` with

    c_skip = sd^2 / (sigma^2 + sd^2)      c_out = -sigma * sd / sqrt(sigma^2 + sd^2)
    c_in   = 1 / sqrt(sigma^2 + sd^2)     c_noise = ln(sigma) / 4

For sd = 1 these are exactly what SVD's ``EulerDiscreteScheduler`` does with
``prediction_type="v_prediction"`` (the minus sign of c_out is SVD's convention), so the official
Ctrl-World checkpoint runs unchanged; small models set sd to the measured std of what they
diffuse. EDM's loss weight ``(sigma^2 + sd^2) / (sigma * sd)^2`` makes the effective regression
target of F unit-variance at every sigma.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Precond:
    c_skip: torch.Tensor
    c_out: torch.Tensor
    c_in: torch.Tensor
    c_noise: torch.Tensor


def precondition(sigma: torch.Tensor, sigma_data: float = 1.0) -> Precond:
    """EDM coefficients (any broadcastable shape of sigma)."""
    sd2 = sigma_data**2
    total = sigma**2 + sd2
    return Precond(c_skip=sd2 / total, c_out=-sigma * sigma_data / total.sqrt(), c_in=1 / total.sqrt(),
                   c_noise=sigma.log() / 4)


def x0_from_output(output: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor,
                   sigma_data: float = 1.0) -> torch.Tensor:
    """The denoiser D (the x0 estimate) from the raw network output F."""
    p = precondition(sigma, sigma_data)
    return p.c_skip * noisy + p.c_out * output


def loss_weight(sigma: torch.Tensor, sigma_data: float = 1.0) -> torch.Tensor:
    """EDM's lambda(sigma) = 1 / c_out^2: the x0 error weighted to a unit-variance F target."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def initial_noise_scale(sigma_max: float | torch.Tensor, sigma_data: float = 1.0) -> float:
    """Std of x at sigma_max: sqrt(sigma_max^2 + sd^2) (SVD's ``init_noise_sigma`` when sd = 1)."""
    return float((float(sigma_max) ** 2 + sigma_data**2) ** 0.5)
