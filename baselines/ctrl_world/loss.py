"""Ctrl-World's teacher-forced training loss, on the shared EDM core.

Official settings (``CrtlWorld.forward``): EDM x0 loss with weight (sigma^2+1)/sigma^2 on the 5
chunk slots, sigma = exp(N(0.7, 1.6^2)); history slots are clean latents lightly noised
(sigma_h ~ N(0, 0.3), scaled by c_in(sigma_h)); the current frame, concatenated on channels, gets
U(0, 0.2) noise augmentation; every token is zeroed with p = 0.05 for CFG.
The small recipe changes only configuration: residual targets and history, sigma_data 0.5 with
DIAMOND's sigma distribution, condition noise U(0, 0.3) told to the UNet through SVD's noise_aug
id, no token dropout (CFG off).
"""

from __future__ import annotations

import torch

from pwbench.diffusion.edm import precondition
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.residual import to_residual


def training_loss(model, latents: torch.Tensor, pose_features: torch.Tensor, text_embeds: torch.Tensor | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Teacher-forced loss of one batch: :func:`estimate_chunk`'s EDM-weighted x0 error."""
    return estimate_chunk(model, latents, pose_features, text_embeds, generator).x0_loss(model.config.sigma_data)


def estimate_chunk(model, latents: torch.Tensor, pose_features: torch.Tensor, text_embeds: torch.Tensor | None,
                   generator: torch.Generator | None = None) -> X0Estimate:
    """Noise one batch of training windows as the recipe does and estimate x0.

    latents: (B, num_history + num_frames, C, h, w) scaled latents, oldest first; slot
    ``num_history`` is the current frame. pose_features: (B, same, action_dim), encoded poses.
    """
    cfg = model.config
    nh = cfg.num_history
    bsz = latents.shape[0]
    dev, dt = latents.device, latents.dtype

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=dev, dtype=dt, generator=generator)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, device=dev, dtype=dt, generator=generator)

    current = latents[:, nh]
    cs = rand(bsz) * cfg.cond_sigma_max  # condition-frame noise augmentation
    cond = (current + randn(*current.shape) * cs[:, None, None, None]) / (cs**2 + 1).sqrt()[:, None, None, None]
    cond = cond / model.scaling_factor

    tokens, offset = model.conditioning(pose_features, text_embeds)
    if cfg.uncond_prob > 0:  # CFG dropout: zero every token (and the pose map)
        keep = (rand(bsz) > cfg.uncond_prob).to(dt)
        tokens = tokens * keep[:, None, None]
        if offset is not None:
            offset = offset * keep.repeat_interleave(latents.shape[1])[:, None, None, None]

    target, history = latents[:, nh:], latents[:, :nh]
    if cfg.residual:
        target, history = to_residual(target, current), to_residual(history, current)
    sigma = cfg.train_sigma.sample((bsz, 1, 1, 1, 1), generator, dev, dt)
    noisy = target + randn(*target.shape) * sigma
    sigma_h = randn(bsz, nh, 1, 1, 1) * cfg.history_sigma_std
    history = history + sigma_h * randn(*history.shape)
    x_in = model.unet_input(history, sigma_h, noisy, sigma, cond)

    time_ids = model.time_ids(bsz, cs if cfg.cond_noise_time_id else cfg.noise_aug_train, dt, dev)
    p = precondition(sigma, cfg.sigma_data)
    out = model.unet(x_in, p.c_noise.reshape(bsz), tokens, time_ids, frame_level_cond=True,
                     input_offset=offset)[:, nh:]
    # slot 0 of the chunk is the current frame itself: a rollout outputs slots 1..
    return X0Estimate(p.c_skip * noisy + p.c_out * out, target, sigma, current, cfg.residual, first_output=1)
