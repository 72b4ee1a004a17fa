"""A world small enough to post-train in a test: 1 view of 4x4 pixels, a 6-number latent.

The "frame" is a fixed linear read-out of the latent; the denoiser is an EDM-preconditioned
linear map of the noisy latent, the current latent and the action, so every part of the recipe
(rollout states, branching, x0 under three policies) runs for real, in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.edm import loss_weight, precondition
from pwbench.rl.protocol import Chunk

D, HW = 6, 4
SIGMA_MAX = 5.0


class ToyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.readout = nn.Parameter(torch.randn(D, HW * HW * 3, generator=g) * 0.5, requires_grad=False)
        self.net = nn.Linear(2 * D + 7 + 1, D)

    def forward(self, noisy, sigma, current, action):
        p = precondition(sigma.reshape(-1, 1))
        inp = torch.cat([noisy * p.c_in, current, action, p.c_noise.reshape(-1, 1).expand(len(noisy), 1)], dim=1)
        return p.c_skip * noisy + p.c_out * self.net(inp)

    def pixels(self, z):
        return ((torch.tanh(z @ self.readout) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).reshape(-1, HW, HW, 3)


@dataclass
class ToyState:
    current: torch.Tensor  # (B, D)
    gens: list[torch.Generator]


@dataclass
class ToyCondition:
    current: torch.Tensor
    action: torch.Tensor


class ToyWorld:
    views = ("cam",)
    chunk_frames = 1

    def __init__(self) -> None:
        self.module = ToyNet()

    def trainable(self):
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith("net.")]

    def start(self, episodes: Sequence[TrainEpisode], frames: Sequence[int], seeds: Sequence[int]) -> ToyState:
        cur = torch.stack([torch.from_numpy(e.pose[t, :D]).float() for e, t in zip(episodes, frames, strict=True)])
        return ToyState(cur, [torch.Generator().manual_seed(int(s)) for s in seeds])

    def branch(self, state: ToyState, k: int, seeds) -> ToyState:
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        return ToyState(state.current.repeat_interleave(k, dim=0), gens)

    @torch.no_grad()
    def advance(self, state: ToyState, actions) -> Chunk:
        action = torch.stack([torch.as_tensor(np.asarray(a)[-1], dtype=torch.float32) for a in actions])
        noise = torch.cat([torch.randn(1, D, generator=g) for g in state.gens]) * SIGMA_MAX
        x0 = self.module(noise, torch.full((len(noise),), SIGMA_MAX), state.current, action)
        cond = ToyCondition(state.current.clone(), action)
        state.current = x0
        pix = self.module.pixels(x0).numpy()
        return Chunk(condition=cond, target=x0, frames=[{"cam": pix[i:i + 1]} for i in range(len(x0))])

    def recorded(self, chunk: Chunk, frames) -> torch.Tensor:
        """The read-out inverted by least squares (the frames are rounded, so it is near, not exact)."""
        pix = torch.from_numpy(np.stack([f[-1, 0] for f in frames])).float().reshape(len(frames), -1)
        unsquashed = torch.atanh((pix / 127.5 - 1).clamp(-0.999, 0.999))
        return torch.linalg.lstsq(self.module.readout.T, unsquashed.T).solution.T

    def x0(self, chunk: Chunk, rows, noisy, sigma):
        return self.module(noisy, sigma, chunk.condition.current[rows], chunk.condition.action[rows])

    def sample_sigma(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return (torch.randn(n, generator=generator) * 1.2 - 0.4).exp()

    def loss_weight(self, sigma):
        return loss_weight(sigma)


def toy_episodes(n: int = 3, length: int = 12) -> list[TrainEpisode]:
    rng = np.random.default_rng(0)
    world = ToyNet()
    out = []
    for i in range(n):
        pose = np.cumsum(rng.normal(0, 0.3, size=(length, 7)), axis=0).astype(np.float32)
        frames = world.pixels(torch.from_numpy(pose[:, :D])).numpy()[:, None]
        out.append(TrainEpisode(index=i, frames=frames, pose=pose, instruction="push"))
    return out
