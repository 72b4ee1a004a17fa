"""Structural similarity (SSIM), one value per frame, identical to skimage's Gaussian SSIM.

.. math::

    \\mathrm{SSIM}(p) = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
                            {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)},
    \\quad C_1 = (K_1 R)^2,\\ C_2 = (K_2 R)^2

where :math:`\\mu, \\sigma^2, \\sigma_{xy}` are Gaussian-weighted local means, variances and
covariance (window ``SSIM_WINDOW`` = 11, σ = ``SSIM_SIGMA`` = 1.5, population statistics, i.e.
skimage's ``use_sample_covariance=False``), computed per channel. The frame value is the mean
of the map over all channels after cropping ``(win - 1) / 2`` pixels from each border — exactly
``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)``.

Because the crop equals the filter radius, the cropped map never depends on how the borders are
padded, so we filter with a *valid* (unpadded) separable Gaussian: two 1-D passes, batched over
frames, channels and the five statistics. Each 1-D pass is a convolution written as a banded
Toeplitz matrix product, applied in blocks of ``_BLOCK`` outputs so that most of the band's
zeros are skipped: on CPU, GEMM beats ``conv2d`` with 1×11 / 11×1 kernels by far (240 maps of
192×320, one thread: 0.15 s vs 1.2 s).
"""

from __future__ import annotations

import torch

from pwbench import protocol
from pwbench.metrics.frames import region_means

_BLOCK = 32  # outputs per GEMM block; 32-64 measured equally fast on a 2-core EPYC
_CHUNK_ELEMENTS = 1 << 18  # input values per filter call (≈ one 192×320 RGB frame)


def gaussian_window(size: int = protocol.SSIM_WINDOW, sigma: float = protocol.SSIM_SIGMA,
                    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``exp(-k²/2σ²)``, ``k = -(size-1)/2 … (size-1)/2`` (scipy's)."""
    if size % 2 != 1 or size < 1:
        raise ValueError(f"SSIM window must be a positive odd size, got {size}")
    k = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-0.5 * (k / sigma) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def _band(window: torch.Tensor, outputs: int) -> torch.Tensor:
    """``(outputs + k - 1, outputs)`` matrix whose column j holds the taps at rows j … j+k-1."""
    k = window.numel()
    band = torch.zeros(outputs + k - 1, outputs, dtype=window.dtype, device=window.device)
    for j in range(k):  # k diagonals, cheaper than filling column by column
        band.diagonal(-j).fill_(window[j])
    return band


def _filter_last(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid 1-D correlation of the last axis of ``(M, W)`` with ``window``: ``(M, W - k + 1)``."""
    k = window.numel()
    rows, width = x.shape
    out = x.new_empty(rows, width - k + 1)
    band = _band(window, _BLOCK)
    for start in range(0, width - k + 1, _BLOCK):
        n = min(_BLOCK, width - k + 1 - start)
        b = band if n == _BLOCK else band[: n + k - 1, :n]
        torch.mm(x[:, start:start + n + k - 1], b, out=out[:, start:start + n])
    return out


def _filter_rows(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Valid 1-D correlation along axis -2 of ``(M, H, W)``: ``(M, H - k + 1, W)``."""
    k = window.numel()
    maps, height, width = x.shape
    out = x.new_empty(maps, height - k + 1, width)
    band_t = _band(window, _BLOCK).T
    for start in range(0, height - k + 1, _BLOCK):
        n = min(_BLOCK, height - k + 1 - start)
        b = band_t if n == _BLOCK else band_t[:n, : n + k - 1]
        torch.matmul(b, x[:, start:start + n + k - 1, :], out=out[:, start:start + n, :])
    return out


def gaussian_filter_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian of ``(M, H, W)`` maps without padding: ``(M, H - k + 1, W - k + 1)``."""
    maps, height, width = x.shape
    cols = _filter_last(x.reshape(maps * height, width), window).reshape(maps, height, -1)
    return _filter_rows(cols, window)


def _ssim_chunk(pred: torch.Tensor, gt: torch.Tensor, window: torch.Tensor, data_range: float,
                k1: float, k2: float) -> torch.Tensor:
    """SSIM map of a few frames; see :func:`ssim_map`."""
    n, c, h, w = pred.shape
    k = window.numel()
    # In-place ops into one buffer: on CPU the element-wise work costs as much as the filtering,
    # and fresh temporaries are what makes it slow.
    stats = torch.empty((5, n, c, h, w), dtype=window.dtype, device=pred.device)
    x, y = stats[0], stats[1]
    x.copy_(pred)  # uint8 frames are converted here, into the buffer: no converted copy of them
    y.copy_(gt)
    if pred.dtype == torch.uint8:
        x.div_(255.0)  # the protocol's x / 255, as a float conversion followed by this division
        y.div_(255.0)
    shift_x = x.mean((2, 3), keepdim=True)
    shift_y = y.mean((2, 3), keepdim=True)
    x.sub_(shift_x)
    y.sub_(shift_y)
    torch.mul(x, x, out=stats[2])
    torch.mul(y, y, out=stats[3])
    torch.mul(x, y, out=stats[4])
    filtered = gaussian_filter_valid(stats.reshape(5 * n * c, h, w), window)
    mu_x, mu_y, var_x, var_y, cov = filtered.reshape(5, n, c, h - k + 1, w - k + 1)
    var_x.addcmul_(mu_x, mu_x, value=-1.0)
    var_y.addcmul_(mu_y, mu_y, value=-1.0)
    cov.addcmul_(mu_x, mu_y, value=-1.0)
    mu_x.add_(shift_x)  # back to the uncentred means for the luminance term
    mu_y.add_(shift_y)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    den_cs = var_x.add_(var_y).add_(c2)  # σx² + σy² + C2
    num_cs = cov.mul_(2.0).add_(c2)  # 2σxy + C2
    num_l = torch.mul(mu_x, mu_y, out=var_y).mul_(2.0).add_(c1)  # 2μxμy + C1
    den_l = mu_x.mul_(mu_x).addcmul_(mu_y, mu_y).add_(c1)  # μx² + μy² + C1
    return num_l.mul_(num_cs).div_(den_l.mul_(den_cs))


def ssim_map(pred: torch.Tensor, gt: torch.Tensor, data_range: float = protocol.DATA_RANGE,
             window_size: int = protocol.SSIM_WINDOW, sigma: float = protocol.SSIM_SIGMA,
             k1: float = protocol.SSIM_K1, k2: float = protocol.SSIM_K2,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Border-cropped SSIM map ``(N, C, H - win + 1, W - win + 1)`` of ``(N, C, H, W)`` frames: float
    in [0, 1], or uint8 read as ``x / 255`` (any strides, e.g. a permuted ``(N, H, W, C)`` view).

    The five local statistics of all channels go through one batched filter call per chunk of
    about ``_CHUNK_ELEMENTS`` input values (one 192×320 frame): chunks that stay in cache ran
    2.6× faster than one 16-frame call. Each frame/channel is first centred on its own mean —
    variances and covariances are shift-invariant, and centring shrinks the magnitudes that enter
    ``E[x²] - E[x]²``. In float32 the frame SSIM then stays within ~3e-5 of skimage's float64
    (worst case: large flat areas far from the frame mean, where C2 dominates); pass
    ``dtype=torch.float64`` for agreement to ~1e-12 at ~2-3× the cost.
    """
    if pred.shape != gt.shape or pred.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) tensors of equal shape, got {tuple(pred.shape)} "
                         f"and {tuple(gt.shape)}")
    if (pred.dtype == torch.uint8) != (gt.dtype == torch.uint8):
        raise ValueError(f"pred and gt must both be uint8 or both float, got {pred.dtype} and {gt.dtype}")
    n, c, h, w = pred.shape
    if h < window_size or w < window_size:
        raise ValueError(f"SSIM needs frames of at least {window_size}×{window_size} pixels, got {h}×{w}")
    window = gaussian_window(window_size, sigma, dtype, pred.device)
    step = max(1, _CHUNK_ELEMENTS // (c * h * w))
    if step >= n:
        return _ssim_chunk(pred, gt, window, data_range, k1, k2)
    out = torch.empty((n, c, h - window_size + 1, w - window_size + 1), dtype=dtype, device=pred.device)
    for start in range(0, n, step):
        out[start:start + step] = _ssim_chunk(pred[start:start + step], gt[start:start + step], window,
                                              data_range, k1, k2)
    return out


def crop_mask(mask: torch.Tensor, window_size: int = protocol.SSIM_WINDOW) -> torch.Tensor:
    """The part of a ``(N, H, W)`` mask that lies inside the SSIM map's cropped region."""
    r = (window_size - 1) // 2
    return mask[:, r:mask.shape[1] - r, r:mask.shape[2] - r]


def mean_map(smap: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame mean of a ``(N, C, h, w)`` map (float64), over a cropped ``(N, h, w)`` mask if given.

    Averaging all channels together equals skimage's mean of per-channel means, since every
    channel has the same pixel count. An empty mask gives NaN.
    """
    full, inside, _ = region_map_means(smap, mask)
    return full if mask is None else inside


def region_map_means(smap: torch.Tensor, mask: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-frame means of the map over everything, over a cropped ``(N, h, w)`` mask and over its
    complement (:func:`pwbench.metrics.frames.region_means`)."""
    return region_means(smap, None if mask is None else mask.unsqueeze(1))


def ssim(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame SSIM (float64 ``(N,)``) of float ``(N, C, H, W)`` frames in [0, 1].

    With a bool ``(N, H, W)`` ``mask``: mean of the cropped map over the mask pixels that lie
    inside the cropped region (the coverage rule is applied by the scorer, not here).
    """
    smap = ssim_map(pred, gt)
    return mean_map(smap, None if mask is None else crop_mask(mask))
