"""Frame metrics of the pwbench protocol: PSNR, SSIM and LPIPS on full frames, mask and background.

``FrameScorer`` is what the rest of pwbench uses; the functional kernels (pure functions on
``(N, C, H, W)`` tensors, math in their docstrings) are exported for tests and ad-hoc analysis.
All settings come from :mod:`pwbench.protocol`.

Note: the package attributes ``psnr``, ``ssim`` and ``lpips`` are the *functions*, which shadow
the submodules of the same name; import helpers with ``from pwbench.metrics.ssim import …``.
"""

from pwbench.metrics.lpips import build_lpips_model, lpips
from pwbench.metrics.lpips_weights import LpipsWeightsMissing, load_alexnet_backbone
from pwbench.metrics.psnr import psnr
from pwbench.metrics.scorer import KEYS, FrameScorer
from pwbench.metrics.ssim import ssim, ssim_map

__all__ = [
    "KEYS",
    "FrameScorer",
    "LpipsWeightsMissing",
    "build_lpips_model",
    "load_alexnet_backbone",
    "lpips",
    "psnr",
    "ssim",
    "ssim_map",
]
