"""Ctrl-World's training loss (official and small recipe) and the sampler built on the shared core."""

from __future__ import annotations

import pytest
import torch

from baselines.ctrl_world.loss import estimate_chunk, training_loss
from baselines.ctrl_world.model import CtrlWorld
from pwbench.diffusion.edm import initial_noise_scale, precondition


def _batch(model, seed: int = 0):
    cfg = model.config
    h, w = cfg.latent_hw
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(2, 11, cfg.vae.latent_channels, h, w, generator=gen)
    poses = torch.rand(2, 11, cfg.action_dim, generator=gen) * 2 - 1
    text = torch.randn(2, cfg.text.projection_dim, generator=gen)
    return latents, poses, text


@pytest.mark.parametrize("which", ["tiny_model", "tiny_residual_model"])
def test_training_loss_is_seeded_and_trains_only_unet_and_action_encoder(which: str, request) -> None:
    model = request.getfixturevalue(which)
    latents, poses, text = _batch(model)
    model.zero_grad()
    loss = training_loss(model, latents, poses, text, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.unet.conv_in.weight.grad is not None
    assert model.action_encoder.action_encode[0].weight.grad is not None
    assert all(p.grad is None for p in model.text_encoder.parameters())
    again = training_loss(model, latents, poses, text, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loss, again)  # seeded: the same noise draws
    model.zero_grad()


@pytest.mark.parametrize("which", ["tiny_model", "tiny_residual_model"])
def test_estimate_gives_the_training_loss_and_the_frames_a_rollout_outputs(which: str, request) -> None:
    model = request.getfixturevalue(which)
    cfg = model.config
    latents, poses, text = _batch(model)
    with torch.no_grad():
        est = estimate_chunk(model, latents, poses, text, torch.Generator().manual_seed(3))
        loss = training_loss(model, latents, poses, text, generator=torch.Generator().manual_seed(3))
    assert torch.equal(est.x0_loss(cfg.sigma_data), loss)
    pred, target = est.predicted_frames()
    nh = cfg.num_history
    current = latents[:, nh, None] if cfg.residual else 0.0
    assert est.residual == cfg.residual and pred.shape[1] == cfg.num_frames - 1  # slot 0 (the current frame) left out
    torch.testing.assert_close(target, latents[:, nh + 1:])  # the recorded frames, absolute
    torch.testing.assert_close(pred, est.x0[:, 1:] + current)


def test_residual_target_ignores_a_constant_scene(tiny_residual_model) -> None:
    """Residual targets: adding the same latent to every frame (a different static scene) leaves
    the zero-initialised model's loss unchanged except through the condition channel it ignores."""
    model = tiny_residual_model
    latents, poses, text = _batch(model)
    shift = torch.randn(1, 1, *latents.shape[2:])
    a = training_loss(model, latents, poses, text, generator=torch.Generator().manual_seed(2))
    b = training_loss(model, latents + shift, poses, text, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)  # conv_out is zero: the output cannot depend on the scene


def test_untrained_residual_model_denoises_with_c_skip_only(tiny_residual_model) -> None:
    """Zero-initialised output: every x0 estimate is c_skip * x, the sample is the residual prior,
    so predictions scatter around the current frame (copy-last in expectation)."""
    model = tiny_residual_model
    cfg = model.config
    h, w = cfg.latent_hw
    current = torch.randn(64, cfg.vae.latent_channels, h, w)
    history = current[:, None].expand(-1, cfg.num_history, -1, -1, -1)
    feats = torch.zeros(64, 11, cfg.action_dim)
    traj = model.chunk_trajectory(current, history, feats, None, torch.Generator().manual_seed(0))
    for sigma, x, x0 in zip(traj.sigmas, traj.states, traj.x0, strict=False):
        torch.testing.assert_close(x0, precondition(sigma, cfg.sigma_data).c_skip * x)
    out = model.predict_chunk(current, history, feats, None, torch.Generator().manual_seed(0))
    residual = out - current[:, None]
    assert residual.mean().abs().item() < 0.02
    # each Euler step with D = c_skip x multiplies x by 1 + (1 - c_skip)(sigma_next - sigma)/sigma
    expected = initial_noise_scale(cfg.sigma_max, cfg.sigma_data)
    for sigma, nxt in zip(traj.sigmas[:-1], traj.sigmas[1:], strict=True):
        expected *= float(1 + (1 - precondition(sigma, cfg.sigma_data).c_skip) * (nxt - sigma) / sigma)
    assert residual.std().item() == pytest.approx(expected, rel=0.05)


def test_guidance_doubles_the_batch_with_zero_tokens_first(tiny_config) -> None:
    """CFG 1 -> 2: unconditional branch (all-zero tokens) first, per-frame scale on the output."""
    # a model of its own: pytest's monkeypatch cannot restore an nn.Module child (it lives in
    # _modules, not __dict__, so undo deleted the session model's unet)
    model = CtrlWorld(tiny_config).eval()
    cfg = model.config
    seen = []

    class FakeUNet(torch.nn.Module):
        conv_in = model.unet.conv_in

        def forward(self, x, c_noise, tokens, time_ids, frame_level_cond=True, input_offset=None):
            seen.append(tokens)
            out = torch.zeros(x.shape[0], x.shape[1], cfg.vae.latent_channels, *x.shape[3:])
            out[x.shape[0] // 2:] = 1.0  # conditional branch outputs 1, unconditional 0
            return out

    model.unet = FakeUNet()
    h, w = cfg.latent_hw
    current = torch.zeros(1, cfg.vae.latent_channels, h, w)
    traj = model.chunk_trajectory(current, torch.zeros(1, 6, cfg.vae.latent_channels, h, w),
                                  torch.zeros(1, 11, 7), None, torch.Generator().manual_seed(0), num_steps=1)
    assert len(seen) == 1 and seen[0].shape[0] == 2 and not seen[0][0].any()
    sigma = traj.sigmas[0]
    p = precondition(sigma)
    ramp = torch.linspace(cfg.min_guidance, cfg.max_guidance, cfg.num_frames)[None, :, None, None, None]
    torch.testing.assert_close(traj.x0[0], p.c_skip * traj.states[0] + p.c_out * ramp)
