"""The NFT loss, advantages and policy copies on cases small enough to compute by hand."""

from __future__ import annotations

import pytest
import torch

from pwbench.rl.advantage import optimality
from pwbench.rl.nft import nft_loss
from pwbench.rl.policies import PolicyCopies, old_decay


def test_loss_equals_the_hand_computed_value():
    d_theta = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    d_old = torch.tensor([[0.5, 1.0], [1.0, 1.0]])
    x0 = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    r = torch.tensor([0.75, 0.25])
    w = torch.tensor([2.0, 1.0])
    beta = 0.5
    # row 0: D+ = (0.75, 1.5), D- = (0.25, 0.5); row 1: D+ = (0.5, 0), D- = (1.5, 2.0)
    e_plus = [((0.75 - 1) ** 2 + (1.5 - 1) ** 2) / 2, (0.5**2 + 0) / 2]
    e_minus = [((0.25 - 1) ** 2 + (0.5 - 1) ** 2) / 2, (1.5**2 + 2.0**2) / 2]
    expected = ((2.0 * (0.75 * e_plus[0] + 0.25 * e_minus[0])) + (1.0 * (0.25 * e_plus[1] + 0.75 * e_minus[1]))) / 2
    expected /= beta
    assert nft_loss(d_theta, d_old, x0, r, beta, weight=w).item() == pytest.approx(expected, rel=1e-6)


def test_beta_one_and_r_one_is_the_supervised_x0_loss():
    g = torch.Generator().manual_seed(0)
    d_theta, d_old, x0 = (torch.randn(3, 4, generator=g) for _ in range(3))
    w = torch.rand(3, generator=g) + 0.5
    supervised = (w * ((d_theta - x0) ** 2).mean(dim=1)).mean()
    assert nft_loss(d_theta, d_old, x0, torch.ones(3), 1.0, weight=w).item() == pytest.approx(supervised.item())


def test_no_advantage_only_holds_the_policy_at_the_old_one():
    g = torch.Generator().manual_seed(1)
    d_old, x0 = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    rewards = torch.full((1, 4), 0.37)
    r = optimality(rewards)[0]
    assert torch.equal(r, torch.full((4,), 0.5))  # a constant-reward group: zero advantage
    d_theta = d_old.clone().requires_grad_(True)
    nft_loss(d_theta, d_old, x0, r, 0.3, weight=torch.ones(4)).backward()
    assert d_theta.grad.abs().max().item() < 1e-6  # no pull toward or away from any candidate


@pytest.mark.parametrize("weighting", ["edm", "adaptive"])
def test_small_beta_gradient_is_the_signed_regression_documented(weighting):
    g = torch.Generator().manual_seed(2)
    d_old, x0 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    r = torch.tensor([0.9, 0.5, 0.1])
    w = torch.tensor([1.0, 2.0, 0.5])
    d_theta = d_old.clone().requires_grad_(True)
    nft_loss(d_theta, d_old, x0, r, 1e-4, weight=w, weighting=weighting).backward()
    if weighting == "adaptive":
        w = 1 / (d_old - x0).abs().mean(dim=1)
    expected = 2 * (w * (2 * r - 1))[:, None] * (d_old - x0) / (3 * 5)  # mean over rows and elements
    assert torch.allclose(d_theta.grad, expected, atol=1e-4)
    assert (d_theta.grad[0] * (d_old[0] - x0[0])).sum() > 0  # the good candidate pulls D toward it
    assert (d_theta.grad[2] * (d_old[2] - x0[2])).sum() < 0  # the bad one pushes


@pytest.mark.parametrize("beta", [0.1, 1.0, 3.0])
def test_beta_only_scales_the_pull_to_the_old_policy(beta):
    """With fixed weights the gradient is exactly 2w[(2r-1)(D_old - x0) + beta (D - D_old)]: the 1/beta
    normalisation removes beta from the reward term (the beta ablation in docs/persistworld-ablations.md)."""
    g = torch.Generator().manual_seed(3)
    d_old, x0, d = (torch.randn(3, 5, generator=g) for _ in range(3))
    r = torch.tensor([0.9, 0.5, 0.2])
    w = torch.tensor([1.0, 2.0, 0.5])
    d_theta = d.clone().requires_grad_(True)
    nft_loss(d_theta, d_old, x0, r, beta, weight=w).backward()
    expected = 2 * w[:, None] * ((2 * r - 1)[:, None] * (d_old - x0) + beta * (d - d_old)) / (3 * 5)
    assert torch.allclose(d_theta.grad, expected, atol=1e-6)


def test_old_predictions_with_a_gradient_are_refused():
    x = torch.zeros(1, 2, requires_grad=True)
    with pytest.raises(ValueError, match="no_grad"):
        nft_loss(x, x * 1, torch.zeros(1, 2), torch.ones(1), 1.0, weight=torch.ones(1))


def test_advantages_are_clipped_and_normalised_by_the_global_std():
    rewards = torch.tensor([[0.0, 1.0, 2.0, 3.0], [10.0, 10.0, 10.0, 10.0]])
    r = optimality(rewards, clip=1.0)
    std = rewards.std(unbiased=False)
    expected = 0.5 + 0.5 * ((rewards[0] - 1.5) / (std + 1e-4)).clamp(-1, 1)
    assert torch.allclose(r[0], expected) and torch.equal(r[1], torch.full((4,), 0.5))
    assert torch.allclose(optimality(rewards, std="group")[0], 0.5 + 0.5 * ((rewards[0] - 1.5) / 5
                                                                            / (rewards[0].std(unbiased=False) + 1e-4)))


def test_policy_copies_swap_restore_and_never_take_gradients():
    layer = torch.nn.Linear(2, 1)
    named = list(layer.named_parameters())
    copies = PolicyCopies(named)
    with torch.no_grad():
        layer.weight.add_(1.0)
    trained = layer.weight.detach().clone()
    x = torch.ones(1, 2)
    with copies.use("old"):
        old_out = layer(x)
        assert torch.equal(layer.weight.detach(), copies.copy("old")[0])
    assert torch.equal(layer.weight.detach(), trained)  # restored
    assert not old_out.requires_grad or all(not t.requires_grad for t in copies.copy("old"))
    layer(x).sum().backward()
    assert all(t.grad is None and not t.requires_grad for t in copies.buffers())
    reference = copies.copy("reference")[0].clone()
    copies.soft_update(0.25)  # old <- 0.25 old + 0.75 trained
    assert torch.allclose(copies.copy("old")[0], 0.25 * reference + 0.75 * trained)
    assert torch.equal(copies.copy("reference")[0], reference)
    assert old_decay(0) == 0 and old_decay(100) == pytest.approx(0.1) and old_decay(10_000) == 0.5
