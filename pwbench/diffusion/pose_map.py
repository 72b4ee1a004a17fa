"""A spatial path for actions: per-frame pose features -> learned maps added to the first features.

Every small world model here conditions on actions through a *global* channel: Ctrl-World through
one cross-attention token per frame (a single key makes the same vector at every pixel), IRASim
and WPE through the adaLN modulation of each frame (the same shift and scale at every token). A
small network trained for an hour must then itself work out *where* in each view a pose puts the
arm, and mostly does not: the history already explains much of the next frames. :class:`PoseMap`
gives the pose a spatial path. An MLP maps each frame's features to ``channels`` maps over the
whole latent canvas (all views stacked: a learned, calibration-free "where is the arm" map), and a
zero-initialised convolution (ControlNet's zero conv) projects them onto the network's first
feature map — a 3x3 conv after a UNet's ``conv_in``, or a patch-sized, patch-strided conv onto a
transformer's patch tokens. At initialisation the network is unchanged, so a trained model can be
warm-started with one. No official configuration has it.
"""

from __future__ import annotations

import torch
from torch import nn


class PoseMap(nn.Module):
    """features (B, F, action_dim) -> (B*F, width, h/stride, w/stride), frames flattened (b, f)."""

    def __init__(self, action_dim: int, hidden: int, channels: int, latent_hw: tuple[int, int], width: int,
                 kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        if channels < 1 or hidden < 1:
            raise ValueError(f"a pose map needs channels >= 1 and hidden >= 1, got {channels} and {hidden}")
        self.channels = channels
        self.latent_hw = tuple(latent_hw)
        h, w = self.latent_hw
        self.mlp = nn.Sequential(nn.Linear(action_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, channels * h * w))
        # "same" padding for a stride-1 conv; none for a patchifying one (kernel == stride)
        self.proj = nn.Conv2d(channels, width, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    @classmethod
    def onto_patches(cls, action_dim: int, hidden: int, channels: int, latent_hw: tuple[int, int], width: int,
                     patch: int) -> PoseMap:
        """The transformer form: a patch-sized, patch-strided projection, so each map lands on the
        same patch grid as the network's own patchifying conv (one offset per token)."""
        return cls(action_dim, hidden, channels, latent_hw, width, kernel=patch, stride=patch)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = self.mlp(features.flatten(0, 1)).reshape(-1, self.channels, *self.latent_hw)
        return self.proj(maps)
