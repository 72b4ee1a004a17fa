"""Synthetic frames for the metric tests (the reference LPIPS model and the robot mask are
shared with the benchmarks, in :mod:`pwbench.testing`)."""

from __future__ import annotations

import numpy as np
import torch

from pwbench.testing import reference_lpips, robot_mask


def structured(h: int, w: int, kind: str, seed: int = 0) -> np.ndarray:
    """A uint8 (H, W, 3) test image: smooth scene-like content, patterns or flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if kind == "noise":
        img = rng.random((h, w, 3))
    elif kind == "gradient":
        img = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), (xx + yy) / (w + h)], -1)
    elif kind == "checker":
        img = np.repeat((((xx // 4) + (yy // 4)) % 2)[..., None], 3, -1)
    elif kind == "halves":
        img = np.repeat((xx < w // 2)[..., None] * 0.9 + 0.05, 3, -1)
    elif kind == "scene":  # blobs on a gradient, like a tabletop
        img = np.stack([0.3 + 0.4 * yy / h] * 3, -1)
        for _ in range(6):
            cy, cx, r = rng.random() * h, rng.random() * w, 3 + rng.random() * h / 4
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    elif kind.startswith("const"):
        img = np.full((h, w, 3), float(kind[5:]))
    else:
        raise ValueError(kind)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def add_noise(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(img + sigma * 255 * rng.standard_normal(img.shape)), 0, 255).astype(np.uint8)


def blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Box blur of a uint8 image (edges replicated)."""
    if radius == 0:
        return img
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    k = 2 * radius + 1
    x = torch.nn.functional.pad(x, (radius,) * 4, mode="replicate")
    x = torch.nn.functional.avg_pool2d(x, k, stride=1)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


__all__ = ["add_noise", "blur", "reference_lpips", "robot_mask", "structured"]
