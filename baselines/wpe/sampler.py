"""WPE's diffusion: the sigmoid noise schedule, diffusion-forcing v-prediction, and the pyramid
DDIM sampler of its evaluation (docs/baselines/notes/wpe-original.md §4, §6).

* Schedule: 1000 steps of the sigmoid schedule (start -3, end 3, tau 1; arXiv 2212.11972) in
  float64, betas clipped to 0.999 and cast to float32, alpha-bar their float32 cumulative product.
* Sampling: 10 DDIM steps at timesteps [-1, 99, ..., 999] (index 0 = clean). For a chunk of h new
  frames the scheduling matrix ``M[m, j] = clip(10 + j - m, 0, 10)`` staggers them by one step
  each ("pyramid"): 9 + h network evaluations, every new frame 10 steps, later frames noisier.
  Context frames stay clean; the network sees them scaled by sqrt(alpha-bar[14]) at timestep 14
  (the "stabilization level"), as if lightly noised.
* One step (deterministic DDIM, eta 0) moves only the frames whose index changes; guidance, when
  not 1, mixes a pass whose every action (context included) is the null action.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from baselines.wpe.model import null_action

TIMESTEPS = 1000
SAMPLING_STEPS = 10
STABILIZATION_LEVEL = 15

Network = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (x, t, action) -> v


def sigmoid_alphas_cumprod(timesteps: int = TIMESTEPS, start: float = -3.0, end: float = 3.0,
                           tau: float = 1.0) -> torch.Tensor:
    s = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
    v_start, v_end = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64)), \
        torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
    raw = (v_end - torch.sigmoid((s * (end - start) + start) / tau)) / (v_end - v_start)
    raw = raw / raw[0]
    betas = (1 - raw[1:] / raw[:-1]).clamp(0, 0.999).float()
    return torch.cumprod(1 - betas, dim=0)


def sampling_timesteps(steps: int = SAMPLING_STEPS, timesteps: int = TIMESTEPS) -> torch.Tensor:
    """[-1, 99, 199, ..., 999] for 10 steps: index 0 is clean."""
    return torch.linspace(-1, timesteps - 1, steps + 1).long()


def pyramid_matrix(horizon: int, steps: int = SAMPLING_STEPS) -> torch.Tensor:
    """(steps + horizon, horizon): row m holds each new frame's noise index at step m."""
    m = torch.arange(steps + horizon)[:, None]
    j = torch.arange(horizon)[None]
    return (steps + j - m).clamp(0, steps)


class PyramidDDIM:
    def __init__(self, alphas_cumprod: torch.Tensor | None = None, steps: int = SAMPLING_STEPS) -> None:
        self.alphas_cumprod = sigmoid_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod
        self.timesteps = sampling_timesteps(steps, len(self.alphas_cumprod))
        self.steps = steps

    def step(self, network: Network, x: torch.Tensor, action: torch.Tensor, idx: torch.Tensor,
             next_idx: torch.Tensor, guidance: float = 1.0) -> torch.Tensor:
        """One DDIM step of a window: x (B, T, H, W, C), action (B, T, A), idx / next_idx (B, T)
        noise indices now and after; frames whose index does not change come back unchanged."""
        ab = self.alphas_cumprod.to(x.device)
        t = self.timesteps.to(x.device)[idx]
        t_next = self.timesteps.to(x.device)[next_idx]
        clean = t < 0
        level = STABILIZATION_LEVEL - 1
        shape = (*t.shape, 1, 1, 1)
        a_t = ab[t.clamp(min=0)].reshape(shape)
        x_in = torch.where(clean.reshape(shape), ab[level].sqrt() * x, x)
        t_in = torch.where(clean, torch.full_like(t, level), t)
        v = network(x_in, t_in, action)
        if guidance != 1.0:
            v_null = network(x_in, t_in, null_action(action))
            v = (1 - guidance) * v_null + guidance * v
        x0 = a_t.sqrt() * x - (1 - a_t).sqrt() * v
        eps = ((1 / a_t).sqrt() * x - x0) / (1 / a_t - 1).sqrt()
        a_next = torch.where(t_next < 0, torch.ones_like(t_next, dtype=ab.dtype), ab[t_next.clamp(min=0)])
        a_next = a_next.reshape(shape)
        moved = a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps
        return torch.where((idx == next_idx).reshape(shape), x, moved)

    @torch.no_grad()
    def chunk(self, network: Network, context: torch.Tensor, action: torch.Tensor, noise: torch.Tensor,
              guidance: float = 1.0) -> list[torch.Tensor]:
        """Sample h new frames after ``context`` (B, n, H, W, C) from ``noise`` (B, h, H, W, C);
        ``action`` (B, n + h, A) covers the window. Returns the window after every step (the last
        is the result)."""
        b, n = context.shape[:2]
        h = noise.shape[1]
        matrix = pyramid_matrix(h, self.steps)
        x = torch.cat([context, noise], dim=1)
        windows = []
        for m in range(len(matrix) - 1):
            idx = torch.cat([torch.zeros(n, dtype=torch.long), matrix[m]])[None].expand(b, -1).to(x.device)
            nxt = torch.cat([torch.zeros(n, dtype=torch.long), matrix[m + 1]])[None].expand(b, -1).to(x.device)
            x = self.step(network, x, action, idx, nxt, guidance)
            windows.append(x)
        return windows
