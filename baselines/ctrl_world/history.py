"""The rollout memory: a growing buffer indexed by a fixed pattern.

Ctrl-World's "pose-conditioned memory" is, in the released code, a buffer with one entry per
rollout step (the 3-view latent and pose of the last frame of each chunk). It starts as
``prefill`` (24) copies of the first frame, grows by one entry per step, and the 6 history
slots are read at ``[0, 0, -8, -6, -4, -2]`` (oldest first). The current frame is the last
entry. Poses travel with their latents, so each memory frame's cross-attention token is its pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


def select(length: int, pattern: tuple[int, ...]) -> list[int]:
    """Absolute buffer positions of ``pattern`` in a buffer of ``length`` entries."""
    out = []
    for idx in pattern:
        pos = idx if idx >= 0 else length + idx
        if not 0 <= pos < length:
            raise IndexError(f"history index {idx} is outside a buffer of {length} entries")
        out.append(pos)
    return out


@dataclass
class HistoryBuffer:
    pattern: tuple[int, ...]
    latents: list[torch.Tensor] = field(default_factory=list)  # each (C, h, w)
    poses: list[torch.Tensor] = field(default_factory=list)  # each (7,), raw (not normalised)

    def reset(self, latent: torch.Tensor, pose: torch.Tensor, prefill: int) -> None:
        self.latents = [latent] * prefill
        self.poses = [pose] * prefill

    def push(self, latent: torch.Tensor, pose: torch.Tensor) -> None:
        self.latents.append(latent)
        self.poses.append(pose)

    def __len__(self) -> int:
        return len(self.latents)

    @property
    def current(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latents[-1], self.poses[-1]

    def gather(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, C, h, w) latents and (H, 7) poses at the pattern positions."""
        pos = select(len(self), self.pattern)
        return torch.stack([self.latents[p] for p in pos]), torch.stack([self.poses[p] for p in pos])
