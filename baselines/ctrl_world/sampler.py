"""Euler sampler with Karras sigmas and v-prediction, and SVD's per-frame CFG ramp.

This reproduces what ``EulerDiscreteScheduler`` does with SVD's scheduler config
(``use_karras_sigmas``, ``prediction_type="v_prediction"``, ``timestep_type="continuous"``,
sigma 0.002..700, ``timestep_spacing="leading"`` so the initial noise is scaled by
sqrt(sigma_max^2+1), no churn), written out so the loop can prepend clean history latents
and drop their outputs, and so one ``torch.Generator`` fixes every random draw.
Guidance: w_f = linspace(min, max, num_frames)[f] per chunk frame, on the network output, with
the unconditional branch fed all-zero action/text tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# F(x_in (B', H+F, 2C, h, w), c_noise (), tokens (B', H+F, D)) -> raw output (B', H+F, C, h, w)
Network = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def karras_sigmas(num_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """num_steps decreasing sigmas from sigma_max to sigma_min, then a final 0 (float32)."""
    ramp = np.linspace(0, 1, num_steps)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))


def guidance_ramp(num_frames: int, min_scale: float, max_scale: float) -> torch.Tensor:
    """Per-frame CFG scale, first frame min_scale, last max_scale (SVD's ramp)."""
    return torch.linspace(min_scale, max_scale, num_frames)


@torch.no_grad()
def sample(network: Network, *, current: torch.Tensor, history: torch.Tensor, tokens: torch.Tensor,
           num_frames: int, num_steps: int, sigma_min: float, sigma_max: float, rho: float,
           min_guidance: float, max_guidance: float, generator: torch.Generator) -> torch.Tensor:
    """Sample one chunk of latents.

    current: (B, C, h, w) condition latent already divided by the scaling factor;
    history: (B, H, C, h, w) clean scaled latents; tokens: (B, H + num_frames, D).
    Returns (B, num_frames, C, h, w) scaled latents.
    """
    bsz, chans, h, w = current.shape
    dev, dt = current.device, current.dtype
    nh = history.shape[1]
    sigmas = karras_sigmas(num_steps, sigma_min, sigma_max, rho).to(dev)
    x = torch.randn((bsz, num_frames, chans, h, w), generator=generator, device=dev, dtype=torch.float32)
    x = (x * (sigmas[0] ** 2 + 1) ** 0.5).to(dt)

    guided = max_guidance > 1.0
    scale = guidance_ramp(num_frames, min_guidance, max_guidance).to(dev, dt)[None, :, None, None, None]
    cond = current[:, None].expand(-1, nh + num_frames, -1, -1, -1)
    ctx = torch.cat([torch.zeros_like(tokens), tokens]) if guided else tokens
    cond2 = torch.cat([cond, cond]) if guided else cond
    hist2 = torch.cat([history, history]) if guided else history
    for i in range(num_steps):
        sigma, nxt = sigmas[i], sigmas[i + 1]
        x_in = (x / (sigma**2 + 1) ** 0.5).to(dt)
        x_in = torch.cat([x_in, x_in]) if guided else x_in
        inp = torch.cat([torch.cat([hist2, x_in], dim=1), cond2], dim=2)
        out = network(inp, (sigma.log() / 4).to(dt), ctx)[:, nh:].float()
        if guided:
            uncond, condl = out.chunk(2)
            out = uncond + scale.float() * (condl - uncond)
        xf = x.float()
        x0 = out * (-sigma / (sigma**2 + 1) ** 0.5) + xf / (sigma**2 + 1)
        x = (xf + (xf - x0) / sigma * (nxt - sigma)).to(dt)
    return x
