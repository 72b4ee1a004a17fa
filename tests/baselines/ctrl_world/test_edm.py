from __future__ import annotations

import torch

from baselines.ctrl_world.edm import precondition, training_loss, x0_from_output


def test_v_prediction_preconditioning_recovers_x0() -> None:
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0])
    x0, noise = torch.randn(4), torch.randn(4)
    noisy = x0 + sigma * noise
    p = precondition(sigma)
    # the exact target of F for x0 recovery: (x0 - c_skip*noisy)/c_out
    target = (x0 - p.c_skip * noisy) / p.c_out
    assert torch.allclose(x0_from_output(target, noisy, sigma), x0, atol=1e-5)
    assert torch.allclose(p.c_in, 1 / (sigma**2 + 1).sqrt())
    assert torch.allclose(p.c_noise, sigma.log() / 4)


def test_training_loss_is_finite_and_trains_unet_and_action_encoder(tiny_model) -> None:
    cfg = tiny_model.config
    h, w = cfg.latent_hw
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 11, cfg.vae.latent_channels, h, w, generator=gen)
    poses = torch.rand(2, 11, 7, generator=gen) * 2 - 1
    text = torch.randn(2, cfg.text.projection_dim, generator=gen)
    tiny_model.zero_grad()
    loss = training_loss(tiny_model, latents, poses, text, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert tiny_model.unet.conv_in.weight.grad is not None
    assert tiny_model.action_encoder.action_encode[0].weight.grad is not None
    assert all(p.grad is None for p in tiny_model.text_encoder.parameters())
    again = training_loss(tiny_model, latents, poses, text, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loss, again)  # seeded: the same noise draws
    tiny_model.zero_grad()
