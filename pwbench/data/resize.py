"""The protocol's resize rule, applied once when an eval set is prepared.

Frames: float bilinear with antialiasing (``torch.nn.functional.interpolate``,
``align_corners=False``), rounded half to even back to uint8. Label maps (masks): nearest
neighbour (``nearest-exact``), so labels are never blended. Both are identities when the size
already matches, so a dataset stored at the scoring resolution is untouched.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, h, w, 3) by the protocol's rule."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    y = torch.round(y).clamp_(0, 255).to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Integer label maps (T, H, W) -> (T, h, w) by nearest neighbour."""
    if labels.ndim != 3:
        raise ValueError(f"expected label maps (T, H, W), got shape {labels.shape}")
    if tuple(labels.shape[1:]) == tuple(size):
        return labels
    x = torch.from_numpy(np.ascontiguousarray(labels)).to(torch.int32)[:, None].float()
    y = F.interpolate(x, size=size, mode="nearest-exact")
    return y[:, 0].to(torch.int32).numpy().astype(labels.dtype)
