"""The Euler sampler over a denoiser D(x, sigma) -> x0, returning the whole trajectory.

Each step moves x along the probability-flow ODE ``dx/dsigma = (x - D(x; sigma)) / sigma``:
``x_next = x + (x - x0) / sigma * (sigma_next - sigma)``; the last step to sigma = 0 returns the
final x0 estimate. The trajectory (every x_i, every x0 estimate, the sigmas) is returned, not only
the last latent: RL post-training branches candidate futures from intermediate states and
re-noises clean samples, and a sampler is easiest to test on its steps.
:func:`euler_sample_frames` is the same step with one noise level per frame (diffusion forcing),
walked along a :func:`pyramid_schedule`.
The network, its conditioning, dtype and any guidance live in the model's ``denoise`` closure;
the update itself runs in the dtype of ``x`` (float32 in pwbench, as diffusers' scheduler does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x, sigma scalar) -> x0 estimate
# (x (B, F, ...), sigma (F,): one noise level per frame, moving (F,)) -> x0 estimate (diffusion
# forcing); only the moving frames' estimates are used, so a denoiser may skip the others (and
# return their input there). A frame that reaches sigma 0 lands on its estimate and never moves
# again, which is what lets a causal denoiser cache it (baselines/wpe/world.py).
FrameDenoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Trajectory:
    sigmas: torch.Tensor  # (S + 1,), the last one 0
    states: list[torch.Tensor]  # x at each sigma (S + 1 of them, fewer with keep=False); last = sample
    x0: list[torch.Tensor]  # the x0 estimate of each kept network evaluation (frame-wise: as returned)

    @property
    def sample(self) -> torch.Tensor:
        return self.states[-1]


@torch.no_grad()
def euler_sample(denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, keep: bool = True) -> Trajectory:
    """Integrate from ``x`` (already at noise level ``sigmas[0]``) down to sigma 0.

    ``keep=False`` holds only the first and last states (memory for long GPU rollouts)."""
    sigmas = sigmas.to(x.device, x.dtype)
    states, x0s = [x], []
    last = len(sigmas) - 2
    for i in range(last + 1):
        sigma, nxt = sigmas[i], sigmas[i + 1]
        x0 = denoise(x, sigma).to(x.dtype)
        x = x + (x - x0) / sigma * (nxt - sigma)
        if keep or i == last:
            states.append(x)
            x0s.append(x0)
    return Trajectory(sigmas=sigmas, states=states, x0=x0s)


def randn_per_row(shape: tuple[int, ...], generator: torch.Generator | list[torch.Generator],
                  device: torch.device | str) -> torch.Tensor:
    """Float32 normal noise; with a list of generators, row i comes from generator i, so a clip's
    noise in a lockstep batch is what it would be if the clip were sampled alone."""
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
    if len(generator) != shape[0]:
        raise ValueError(f"{len(generator)} generators for a batch of {shape[0]}")
    return torch.cat([torch.randn((1, *shape[1:]), generator=g, device=device, dtype=torch.float32)
                      for g in generator])


def pyramid_schedule(sigmas: torch.Tensor, frames: int) -> torch.Tensor:
    """(S + frames, frames) per-frame noise levels for ``frames`` new frames: each walks the S + 1
    ``sigmas`` (decreasing, last 0) one row at a time, frame j starting j rows after frame 0 —
    the "pyramid" of diffusion-forcing samplers (WPE's ``M[m, j] = clip(S + j - m, 0, S)``), so a
    later frame is always at least as noisy as an earlier one."""
    steps = len(sigmas) - 1
    row = torch.arange(steps + frames)[:, None]
    index = (steps + torch.arange(frames)[None] - row).clamp(0, steps)  # steps = noisiest, 0 = clean
    return sigmas[steps - index]


@torch.no_grad()
def euler_sample_frames(denoise: FrameDenoiser, x: torch.Tensor, schedule: torch.Tensor,
                        keep: bool = True) -> Trajectory:
    """Euler with one noise level per frame: ``schedule`` (R, F) gives each frame's sigma at each
    row; from row r to r + 1 a frame whose sigma changes takes an Euler step (to its x0 estimate
    when the next sigma is 0), the others are left exactly as they are. x (B, F, ...) starts at
    row 0's levels. The denoiser is told which frames move: the others' estimates are never read
    (a causal model need not run the frames after the last moving one)."""
    schedule = schedule.to(x.device, x.dtype)
    shape = (1, schedule.shape[1]) + (1,) * (x.ndim - 2)
    states, x0s = [x], []
    for r in range(len(schedule) - 1):
        sigma, nxt = schedule[r], schedule[r + 1]
        moving = sigma != nxt
        x0 = denoise(x, sigma, moving).to(x.dtype)
        safe = torch.where(moving, sigma, torch.ones_like(sigma))
        stepped = x + (x - x0) / safe.reshape(shape) * (nxt - sigma).reshape(shape)
        x = torch.where(moving.reshape(shape), stepped, x)
        if keep or r == len(schedule) - 2:
            states.append(x)
            x0s.append(x0)
    return Trajectory(sigmas=schedule, states=states, x0=x0s)
