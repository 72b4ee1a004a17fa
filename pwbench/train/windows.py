"""Pre-encoded training windows: episodes encoded once to latents, windows drawn by index.

A model family decides *which* frames make a training window (its history pattern, its chunk)
through a ``WindowPattern``; this module holds the encoded episodes on the CPU and draws windows
with a numpy generator, episode chosen in proportion to its length (every frame equally likely).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# (rng, episode length) -> frame indices of one window (any order the model expects)
WindowPattern = Callable[[np.random.Generator, int], Sequence[int]]


@dataclass
class EncodedEpisode:
    index: int
    latents: torch.Tensor  # (T, C, h, w) scaled latents
    poses: torch.Tensor  # (T, 7) raw poses
    text: torch.Tensor  # (P,) instruction embedding


@dataclass
class Window:
    latents: torch.Tensor  # (B, F, C, h, w)
    poses: torch.Tensor  # (B, F, 7)
    text: torch.Tensor  # (B, P)
    episodes: list[int]
    frames: list[list[int]]


class WindowSampler:
    def __init__(self, episodes: Sequence[EncodedEpisode], pattern: WindowPattern) -> None:
        if not episodes:
            raise ValueError("no training episodes")
        self.episodes = list(episodes)
        self.pattern = pattern
        lengths = np.array([len(e.poses) for e in self.episodes], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    @property
    def indices(self) -> list[int]:
        return [e.index for e in self.episodes]

    def draw(self, rng: np.random.Generator, size: int) -> Window:
        lat, pos, txt, eps, frames = [], [], [], [], []
        for _ in range(size):
            e = self.episodes[int(rng.choice(len(self.episodes), p=self.weights))]
            ids = [int(i) for i in self.pattern(rng, len(e.poses))]
            lat.append(e.latents[ids])
            pos.append(e.poses[ids])
            txt.append(e.text)
            eps.append(e.index)
            frames.append(ids)
        return Window(torch.stack(lat), torch.stack(pos), torch.stack(txt), eps, frames)
