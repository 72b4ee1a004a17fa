"""Frame-level action tokens: one cross-attention token per frame.

Ctrl-World conditions the SVD UNet on poses instead of a CLIP image embedding. Each frame's
7-D pose (normalised to [-1, 1]) goes through the same 3-layer MLP, so the token sequence has
one entry per frame (6 history + 5 chunk frames), and the UNet's frame-level cross-attention
lets frame k see only token k. The instruction's CLIP text embedding is tiled to the token width
and added to every token. The module path ``action_encode.{0,2,4}`` is kept identical to the
original so the official state dict loads by name.
"""

from __future__ import annotations

import torch
from torch import nn


class ActionEncoder(nn.Module):
    """7 -> hidden -> SiLU -> hidden -> SiLU -> hidden, applied per frame."""

    def __init__(self, action_dim: int = 7, hidden: int = 1024) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.hidden = hidden
        self.action_encode = nn.Sequential(
            nn.Linear(action_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        # He-normal on the two layers followed by SiLU, as the original does (the last layer keeps
        # PyTorch's default so the initial tokens stay small).
        nn.init.kaiming_normal_(self.action_encode[0].weight, mode="fan_in", nonlinearity="relu")
        nn.init.kaiming_normal_(self.action_encode[2].weight, mode="fan_in", nonlinearity="relu")

    def forward(self, actions: torch.Tensor, text_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """actions (B, F, 7) in [-1, 1]; text_embeds (B, P) with hidden % P == 0 -> (B, F, hidden)."""
        if actions.ndim != 3 or actions.shape[-1] != self.action_dim:
            raise ValueError(f"actions must be (B, F, {self.action_dim}), got {tuple(actions.shape)}")
        tokens = self.action_encode(actions)
        if text_embeds is not None:
            tiles = self.hidden // text_embeds.shape[-1]
            tokens = tokens + text_embeds.repeat(1, tiles)[:, None, :].to(tokens.dtype)
        return tokens


def normalize_bound(pose: torch.Tensor, q01: torch.Tensor, q99: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-dimension map of [q01, q99] to [-1, 1], clipped (the original's ``normalize_bound``)."""
    return (2 * (pose - q01) / (q99 - q01 + eps) - 1).clamp(-1.0, 1.0)


class PoseEncoder:
    """Raw poses -> the action encoder's input, the way the variant was trained.

    ``bound`` (official): :func:`normalize_bound` with the DROID percentiles. ``continuous``
    (small): :class:`pwbench.diffusion.poses.PoseFeatures` relative to the current pose."""

    def __init__(self, kind: str, q01, q99, delta_scale=None) -> None:
        self.kind = kind
        if kind == "continuous":
            from pwbench.diffusion.poses import PoseFeatures

            if delta_scale is None:
                raise ValueError("continuous pose features need the training split's delta_scale")
            self.features = PoseFeatures(q01, q99, delta_scale)
        elif kind == "bound":
            self.q01 = torch.as_tensor(q01, dtype=torch.float32)
            self.q99 = torch.as_tensor(q99, dtype=torch.float32)
        else:
            raise ValueError(f"unknown pose encoding {kind!r} (bound or continuous)")

    def __call__(self, poses: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """poses (B, F, 7), current (B, 7) raw -> (B, F, action_dim)."""
        if self.kind == "continuous":
            return self.features(poses, current[:, None])
        return normalize_bound(poses, self.q01.to(poses.device), self.q99.to(poses.device))
