"""Peak signal-to-noise ratio, one value per frame.

.. math::

    \\mathrm{MSE}_t = \\frac{1}{|P|\\,C} \\sum_{p \\in P} \\sum_{c=1}^{C} (x_{t,c,p} - y_{t,c,p})^2,
    \\qquad
    \\mathrm{PSNR}_t = \\min\\Big(10 \\log_{10} \\frac{R^2}{\\mathrm{MSE}_t},\\ \\mathrm{cap}\\Big)

with :math:`R` = ``protocol.DATA_RANGE`` (1: frames are ``uint8 / 255``), :math:`P` all pixels
(or the pixels of a mask) and cap = ``protocol.PSNR_CAP_DB``. PSNR is taken per frame and only
then averaged by the caller: the PSNR of a pooled MSE is a different (larger-error-dominated)
number, and identical frames would make the per-frame value infinite, hence the cap.

For ``uint8`` inputs the squared error is computed in integers and only then divided by
``255²`` in float64, so the result is exact (skimage's float64 path agrees to ~1e-12 dB);
float inputs are promoted to float64 first.
"""

from __future__ import annotations

import torch

from pwbench import protocol
from pwbench.metrics.frames import region_means


def squared_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared error summed over channels, ``(N, H, W)``.

    ``pred``/``gt``: ``(N, C, H, W)``, both uint8 or both float in ``[0, DATA_RANGE]``. For uint8
    the result is the exact int32 error in 0..255 units (at most C·255², far from overflow) and
    :func:`region_mse` divides by 255² only after the exact integer sums; for float it is float64
    in data-range units. Channels are summed here (not averaged) so that a mask over pixels can
    be applied once and the channel count divided out with the pixel count.
    """
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of equal shape, got {tuple(pred.shape)} "
                         f"and {tuple(gt.shape)}")
    if pred.dtype == torch.uint8 and gt.dtype == torch.uint8:
        diff = pred.to(torch.int32) - gt.to(torch.int32)
        return diff.mul_(diff).sum(1, dtype=torch.int32)
    if pred.dtype == torch.uint8 or gt.dtype == torch.uint8:
        raise ValueError(f"pred and gt must both be uint8 or both float, got {pred.dtype} and {gt.dtype}")
    diff = pred.to(torch.float64) - gt.to(torch.float64)
    return (diff * diff).sum(1)


def region_mse(err: torch.Tensor, channels: int, mask: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """MSE per frame (data-range units) over all pixels, over ``mask`` and over its complement,
    from :func:`squared_error` output (see :func:`pwbench.metrics.frames.region_means`).

    A region with no pixels gives NaN (0/0): there is nothing to average, and a NaN keeps the
    frame out of any later ``nanmean`` instead of pretending it scored perfectly.
    """
    scale = channels * (1.0 if err.is_floating_point() else 255.0**2)
    return tuple(None if m is None else m / scale for m in region_means(err, mask))


def mse_from_error(err: torch.Tensor, channels: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error per frame from :func:`squared_error` output, over ``mask`` if given."""
    full, inside, _ = region_mse(err, channels, mask)
    return full if mask is None else inside


def psnr_from_mse(mse: torch.Tensor, data_range: float = protocol.DATA_RANGE,
                  cap_db: float = protocol.PSNR_CAP_DB) -> torch.Tensor:
    """``10·log10(R²/MSE)``, capped at ``cap_db`` (MSE 0 → +inf → cap); NaN stays NaN."""
    return torch.clamp(10.0 * torch.log10(data_range**2 / mse), max=cap_db)


def mse(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame MSE of ``(N, C, H, W)`` frames, over all pixels or a bool ``(N, H, W)`` mask."""
    return mse_from_error(squared_error(pred, gt), pred.shape[1], mask)


def psnr(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None,
         cap_db: float = protocol.PSNR_CAP_DB) -> torch.Tensor:
    """Per-frame PSNR (dB, float64 ``(N,)``) of ``(N, C, H, W)`` frames; see the module docstring.

    With ``mask`` (bool ``(N, H, W)``) the MSE runs over the mask pixels, all channels. The
    protocol's minimum-coverage rule is applied by :class:`~pwbench.metrics.FrameScorer`, not here.
    """
    return psnr_from_mse(mse(pred, gt, mask), cap_db=cap_db)
