"""Synthetic frames, masks and the reference LPIPS model shared by the metric tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def reference_lpips(backbone: dict[str, torch.Tensor], spatial: bool = False) -> Any:
    """``lpips.LPIPS(net='alex', pnet_rand=True)`` with the backbone loaded the documented way
    (conv modules in order), independently of pwbench's own loading code."""
    import warnings

    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=True, spatial=spatial, verbose=False)
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv, index in zip(convs, (0, 3, 6, 8, 10), strict=True):
        conv.weight.data = backbone[f"features.{index}.weight"].clone()
        conv.bias.data = backbone[f"features.{index}.bias"].clone()
    return model.eval()


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


def robot_mask(t: int, h: int, w: int) -> np.ndarray:
    """A moving arm-like mask (a slanted bar and a gripper blob) plus a static object."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((t, h, w), bool)
    for i in range(t):
        x0 = w * (0.3 + 0.3 * np.sin(i / 9))
        arm = (np.abs((xx - x0) - 0.5 * (yy - 0)) < w * 0.04) & (yy < h * 0.6)
        grip = (yy - h * 0.6) ** 2 + (xx - x0 - 0.3 * h) ** 2 < (h * 0.08) ** 2
        obj = (np.abs(yy - h * 0.8) < h * 0.06) & (np.abs(xx - w * 0.7) < w * 0.05)
        out[i] = arm | grip | obj
    return out
