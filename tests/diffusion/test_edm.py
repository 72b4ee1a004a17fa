"""EDM preconditioning: x0 recovery, SVD's coefficients at sigma_data 1, EDM's unit-variance target."""

from __future__ import annotations

import pytest
import torch

from pwbench.diffusion.edm import initial_noise_scale, loss_weight, precondition, x0_from_output
from pwbench.diffusion.residual import from_residual, to_residual, zero_init_
from pwbench.diffusion.schedule import LogNormalSigma


@pytest.mark.parametrize("sigma_data", [1.0, 0.5])
def test_preconditioning_recovers_x0(sigma_data: float) -> None:
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0])
    x0, noise = torch.randn(4), torch.randn(4)
    noisy = x0 + sigma * noise
    p = precondition(sigma, sigma_data)
    target = (x0 - p.c_skip * noisy) / p.c_out  # the exact F that recovers x0
    torch.testing.assert_close(x0_from_output(target, noisy, sigma, sigma_data), x0, atol=1e-5, rtol=0)
    torch.testing.assert_close(p.c_noise, sigma.log() / 4)


def test_sigma_data_one_is_svds_v_prediction() -> None:
    sigma = torch.tensor([0.002, 1.0, 700.0])
    p = precondition(sigma)
    torch.testing.assert_close(p.c_skip, 1 / (sigma**2 + 1))
    torch.testing.assert_close(p.c_out, -sigma / (sigma**2 + 1).sqrt())
    torch.testing.assert_close(p.c_in, 1 / (sigma**2 + 1).sqrt())
    assert initial_noise_scale(700.0) == pytest.approx((700.0**2 + 1) ** 0.5)


def test_loss_weight_makes_the_network_target_unit_variance() -> None:
    """For x0 ~ N(0, sd^2): E[lambda * (D - x0)^2] with F = 0 equals E[F_target^2] = 1."""
    sd = 0.5
    gen = torch.Generator().manual_seed(0)
    for s in (0.05, 0.5, 5.0):
        sigma = torch.tensor(s)
        x0 = torch.randn(200_000, generator=gen) * sd
        noisy = x0 + sigma * torch.randn(200_000, generator=gen)
        p = precondition(sigma, sd)
        value = (loss_weight(sigma, sd) * (p.c_skip * noisy - x0) ** 2).mean()
        assert value.item() == pytest.approx(1.0, rel=0.02)


def test_log_normal_sigma_is_clipped_and_seeded() -> None:
    dist = LogNormalSigma(-0.4, 1.2, clip_min=0.002, clip_max=20.0)
    a = dist.sample((50_000,), torch.Generator().manual_seed(1))
    b = dist.sample((50_000,), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.min() >= 0.002 and a.max() == 20.0
    assert a.log().median().item() == pytest.approx(-0.4, abs=0.03)
    with pytest.raises(ValueError):
        LogNormalSigma(0.0, 0.0)


def test_residuals_round_trip_and_zero_init() -> None:
    cur, lat = torch.randn(2, 3, 4), torch.randn(2, 5, 3, 4)
    torch.testing.assert_close(from_residual(to_residual(lat, cur), cur), lat)
    assert torch.equal(to_residual(cur[:, None].expand(-1, 5, -1, -1), cur), torch.zeros(2, 5, 3, 4))
    layer = zero_init_(torch.nn.Conv2d(3, 4, 3))
    assert not layer(torch.randn(1, 3, 8, 8)).any()
