"""EDM preconditioning of the SVD UNet and Ctrl-World's teacher-forced training loss.

SVD's UNet is a v-prediction network in EDM form with sigma_data = 1:
``D(x; sigma) = c_skip * x + c_out * F(c_in * x, c_noise)`` with c_skip = 1/(sigma^2+1),
c_out = -sigma/sqrt(sigma^2+1), c_in = 1/sqrt(sigma^2+1), c_noise = ln(sigma)/4. Training
regresses the x0 estimate D onto the clean latents with EDM's weight (sigma^2+1)/sigma^2 (that
is the x0 objective PersistWorld later post-trains). The loss covers only the chunk slots; the
history slots are clean latents lightly noised (sigma_h ~ |N(0, 0.3)|-ish, as the original),
and the current frame, concatenated on channels, gets U(0, 0.2) noise augmentation.
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


def precondition(sigma: torch.Tensor) -> Precond:
    """EDM coefficients for sigma_data = 1 (any broadcastable shape)."""
    s2 = sigma**2 + 1
    return Precond(c_skip=1 / s2, c_out=-sigma / s2.sqrt(), c_in=1 / s2.sqrt(), c_noise=sigma.log() / 4)


def x0_from_output(output: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The denoiser D from the raw network output F (v-prediction, as the SVD scheduler)."""
    p = precondition(sigma)
    return p.c_skip * noisy + p.c_out * output


def training_loss(model, latents: torch.Tensor, poses: torch.Tensor, text_embeds: torch.Tensor | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Teacher-forced loss of one batch.

    latents: (B, num_history + num_frames, C, h, w), scaled (unit variance), oldest first; slot
    ``num_history`` is the current frame. poses: (B, same, 7) normalised to [-1, 1].
    """
    cfg = model.config
    nh = cfg.num_history
    bsz, frames = latents.shape[:2]
    dev, dt = latents.device, latents.dtype

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, device=dev, dtype=dt, generator=generator)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, device=dev, dtype=dt, generator=generator)

    # condition image: the current frame, noise-augmented, at the raw latent scale
    current = latents[:, nh]
    cs = rand(bsz, 1, 1, 1) * cfg.cond_sigma_max
    cond = (current + randn(*current.shape) * cs) / (cs**2 + 1).sqrt()
    cond = (cond / model.scaling_factor)[:, None].expand(-1, frames, -1, -1, -1)

    tokens = model.action_encoder(poses, text_embeds)
    keep = (rand(bsz) > cfg.uncond_prob).to(dt)[:, None, None]  # CFG dropout: zero every token
    tokens = tokens * keep

    sigma = (randn(bsz, 1, 1, 1, 1) * cfg.p_std + cfg.p_mean).exp()
    p = precondition(sigma)
    noisy = latents + randn(*latents.shape) * sigma
    sigma_h = randn(bsz, nh, 1, 1, 1) * cfg.history_sigma_std
    history = (latents[:, :nh] + sigma_h * randn(*latents[:, :nh].shape)) / (sigma_h**2 + 1).sqrt()
    x_in = torch.cat([history, p.c_in * noisy[:, nh:]], dim=1)
    x_in = torch.cat([x_in, cond], dim=2)

    time_ids = model.time_ids(bsz, cfg.noise_aug_train, dt, dev)
    out = model.unet(x_in, p.c_noise.reshape(bsz), tokens, time_ids, frame_level_cond=True)
    x0 = p.c_skip * noisy + p.c_out * out
    weight = (sigma**2 + 1) / sigma**2
    return ((x0[:, nh:] - latents[:, nh:]) ** 2 * weight).mean()
