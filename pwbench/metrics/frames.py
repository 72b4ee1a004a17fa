"""Input checks and conversions shared by the metric kernels.

The protocol scores ``uint8`` RGB frames shaped ``(T, H, W, 3)``; anything else is a bug in the
caller (a float frame in [0, 255], a BGR/CHW layout, a resized prediction), and a silent
conversion would turn it into a plausible but wrong number. So these helpers refuse rather than
guess: dtype and shapes must match exactly, and nothing is ever resized.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def _from_numpy(array: np.ndarray) -> torch.Tensor:
    """Wrap a numpy array without a copy; read-only arrays (memory-mapped eval sets) are fine
    because the kernels never write to their inputs, so torch's not-writable warning is muted."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(array))


def _as_tensor(array: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        return _from_numpy(array)
    if isinstance(array, torch.Tensor):
        return array
    raise ValueError(f"{name}: expected a numpy array or torch tensor, got {type(array).__name__}")


def as_uint8_frames(frames: ArrayLike, name: str) -> torch.Tensor:
    """Check that ``frames`` is uint8 ``(T, H, W, 3)`` and return it as a CPU-or-device tensor.

    Numpy arrays are wrapped without copying where possible (``torch.from_numpy``), so scoring a
    large clip does not double its memory before the first batch is even cut.
    """
    tensor = _as_tensor(frames, name)
    if tensor.dtype != torch.uint8:
        raise ValueError(f"{name}: expected dtype uint8 (RGB 0..255), got {tensor.dtype}")
    if tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (T, H, W, 3), got {tuple(tensor.shape)}")
    return tensor


def as_mask(mask: ArrayLike, shape: tuple[int, int, int], name: str = "mask") -> torch.Tensor:
    """Check that ``mask`` is a bool ``(T, H, W)`` array matching the frames and return a tensor."""
    tensor = _as_tensor(mask, name)
    if tensor.dtype != torch.bool:
        raise ValueError(f"{name}: expected dtype bool (robot ∪ objects), got {tensor.dtype}")
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)} (T, H, W of the frames), "
                         f"got {tuple(tensor.shape)}")
    return tensor


def check_pair(pred: ArrayLike, gt: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a prediction / ground-truth pair: both uint8 ``(T, H, W, 3)``, identical shapes."""
    pred_t = as_uint8_frames(pred, "pred")
    gt_t = as_uint8_frames(gt, "gt")
    if pred_t.shape != gt_t.shape:
        raise ValueError(f"pred and gt must have identical shapes (no resizing is done), got "
                         f"pred {tuple(pred_t.shape)} vs gt {tuple(gt_t.shape)}")
    if pred_t.shape[0] == 0:
        raise ValueError("pred and gt hold no frames (T == 0)")
    return pred_t, gt_t


def to_signed(frames: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` → float32 ``(N, 3, H, W)`` in [-1, 1], as LPIPS expects.

    Uses ``x / 127.5 - 1``, the expression of ``lpips.im2tensor``, in float32 (im2tensor computes
    it in float64 and rounds, so the two differ by at most one float32 ulp, 6e-8; LPIPS moves by
    far less than the 1e-5 the tests demand). The result is channels-last in memory: that is
    the uint8 frames' own layout (one converting pass, no reordering copy) and the layout the
    AlexNet backbone runs in.
    """
    nchw = frames.to(device).permute(0, 3, 1, 2)
    return nchw.to(torch.float32, memory_format=torch.channels_last).div_(127.5).sub_(1.0)


def coverage(mask: torch.Tensor) -> torch.Tensor:
    """Per-frame fraction of pixels set in a bool ``(N, H, W)`` mask, float64 ``(N,)``."""
    return mask.flatten(1).sum(1, dtype=torch.float64) / float(mask.shape[1] * mask.shape[2])


def region_means(values: torch.Tensor, mask: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per-frame means of ``values`` ``(N, ...)`` over everything, over ``mask`` and over its
    complement, float64 ``(N,)`` each (the last two None without a mask).

    One masked sum serves both regions: the complement's sum is the total minus the mask's, so
    the background costs no second pass. Integer values are summed exactly in int64. ``mask`` is
    bool and broadcasts over ``values`` (e.g. ``(N, 1, h, w)`` for a ``(N, C, h, w)`` map, each
    pixel then counting C times); an empty region gives NaN (0/0), never a score.
    """
    accumulate = torch.float64 if values.is_floating_point() else torch.int64
    flat = values.flatten(1)
    total = flat.sum(1, dtype=accumulate)
    full = total.to(torch.float64) / flat.shape[1]
    if mask is None:
        return full, None, None
    inside = torch.where(mask, values, 0).flatten(1).sum(1, dtype=accumulate)
    per_pixel = flat.shape[1] // mask[0].numel()  # values per mask element (channels)
    count = mask.flatten(1).sum(1, dtype=torch.float64) * per_pixel
    return (full, inside.to(torch.float64) / count,
            (total - inside).to(torch.float64) / (flat.shape[1] - count))
