"""FrameScorer: every protocol metric of a predicted view in one pass.

The thin stateful wrapper around the pure kernels: it owns the LPIPS model (loaded once) and the
GT-feature cache, validates inputs, cuts the clip into batches of ``batch_size`` frames (memory
stays bounded whatever T is) and applies the protocol's region and coverage rules:

* ``full``: the whole frame; ``masked``: the pixels of the mask (robot ∪ objects);
  ``background``: its complement.
* PSNR over a region uses the MSE over that region's pixels (all channels); SSIM the mean of the
  border-cropped SSIM map over the region's pixels inside the crop; LPIPS the region-weighted
  mean of the spatial LPIPS map.
* A region covering less than ``protocol.MASK_MIN_COVERAGE`` of the frame gives NaN, so such
  frames drop out of later ``nanmean``s instead of adding very noisy values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from pwbench import protocol
from pwbench.metrics.feature_cache import DEFAULT_MAX_BYTES, CacheInfo, FeatureCache, fingerprint
from pwbench.metrics.frames import ArrayLike, as_mask, check_pair, coverage, region_means
from pwbench.metrics.lpips import (
    build_lpips_model,
    frame_features,
    from_layer_maps,
    layer_maps,
    spatial_map,
)
from pwbench.metrics.psnr import psnr_from_mse, region_mse, squared_error
from pwbench.metrics.ssim import crop_mask, region_map_means, ssim_map


@contextmanager
def _full_fp32(device: torch.device) -> Iterator[None]:
    """Keep CUDA convs and matmuls in true float32 (no TF32) while scoring.

    TF32 would move LPIPS and SSIM by ~1e-3, so GPU scores would no longer equal CPU scores.
    A no-op on CPU. The previous settings are restored afterwards.
    """
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


KEYS: tuple[str, ...] = tuple(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)


class FrameScorer:
    """Scores ``(T, H, W, 3)`` uint8 predictions against ground truth, frame by frame.

    ``score`` returns ``{f"{metric}_{region}": float64 (T,)}`` for every metric in
    ``protocol.METRICS`` and region in ``protocol.REGIONS``, plus ``"mask_coverage"``; the masked
    and background entries (and the coverage) are NaN when no mask is given.
    """

    def __init__(self, device: torch.device | str = "cpu", batch_size: int = 16,
                 gt_cache_bytes: int = DEFAULT_MAX_BYTES, weights_cache: Path | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model, self.lpips_source = build_lpips_model(self.device, weights_cache)
        self.gt_cache = FeatureCache(gt_cache_bytes)

    def cache_info(self) -> CacheInfo:
        """Hits, misses and size of the ground-truth feature cache."""
        return self.gt_cache.info()

    def score(self, pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None,
              gt_key: str | None = None) -> dict[str, np.ndarray]:
        """All metrics for one view of one clip; see the class docstring for the output.

        ``gt_key`` names the ground truth (e.g. ``"clip/view"``) so its LPIPS features are
        computed once and reused from the cache by later calls with the same key and frames.
        """
        pred_t, gt_t = check_pair(pred, gt)
        t, h, w, _ = pred_t.shape
        mask_t = None if mask is None else as_mask(mask, (t, h, w))
        gt_print = None if gt_key is None else fingerprint(gt_t)
        cached = None if gt_key is None else self.gt_cache.get(gt_key, gt_print)
        with torch.inference_mode(), _full_fp32(self.device):
            parts: list[dict[str, torch.Tensor]] = []
            gt_feats: list[list[torch.Tensor]] = []
            for start in range(0, t, self.batch_size):
                stop = min(start + self.batch_size, t)
                batch_mask = None if mask_t is None else mask_t[start:stop].to(self.device)
                feats = None if cached is None else [f[start:stop] for f in cached]
                out, feats = self._score_batch(pred_t[start:stop], gt_t[start:stop], batch_mask, feats)
                parts.append(out)
                if cached is None and gt_key is not None:
                    gt_feats.append(feats)
            if gt_key is not None and cached is None:
                self.gt_cache.put(gt_key, gt_print, [torch.cat(layer) for layer in zip(*gt_feats, strict=True)])
        result = {k: torch.cat([p[k] for p in parts]).cpu().numpy() for k in parts[0]}
        if mask_t is None:
            nan = np.full(t, np.nan)
            result.update({f"{m}_{r}": nan.copy() for m in protocol.METRICS for r in protocol.REGIONS[1:]})
            result["mask_coverage"] = nan
        return {k: result[k].astype(np.float64) for k in (*KEYS, "mask_coverage")}

    def _score_batch(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None,
                     gt_feats: list[torch.Tensor] | None) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """Metrics of one batch of uint8 ``(B, H, W, 3)`` frames, and the GT features it used."""
        pred = pred.to(self.device)
        gt = gt.to(self.device)
        h, w = pred.shape[1], pred.shape[2]
        out: dict[str, torch.Tensor] = {}
        valid: dict[str, torch.Tensor] = {}
        if mask is not None:
            cov = coverage(mask)
            out["mask_coverage"] = cov
            valid = {"masked": cov >= protocol.MASK_MIN_COVERAGE,
                     "background": (1.0 - cov) >= protocol.MASK_MIN_COVERAGE}
        # each metric's full / masked / background means come from one masked sum (region_means)
        pred_nchw, gt_nchw = pred.permute(0, 3, 1, 2), gt.permute(0, 3, 1, 2)  # uint8 views, no copy
        mse = region_mse(squared_error(pred_nchw, gt_nchw), 3, mask)
        self._put(out, "psnr", [None if m is None else psnr_from_mse(m) for m in mse])

        smap = ssim_map(pred_nchw, gt_nchw)  # reads uint8 as x / 255 inside its own buffer
        self._put(out, "ssim", region_map_means(smap, None if mask is None else crop_mask(mask)))
        del smap

        if gt_feats is None:
            gt_feats = frame_features(self.model, gt, self.device)
        maps = layer_maps(self.model, frame_features(self.model, pred, self.device), gt_feats)
        out["lpips_full"] = from_layer_maps(maps)
        if mask is not None:
            _, inside, outside = region_means(spatial_map(maps, (h, w)), mask)
            out["lpips_masked"], out["lpips_background"] = inside, outside

        for name in valid:  # the coverage rule, applied once for every metric
            for metric in protocol.METRICS:
                key = f"{metric}_{name}"
                out[key] = torch.where(valid[name], out[key], torch.nan)
        return out, gt_feats

    @staticmethod
    def _put(out: dict[str, torch.Tensor], metric: str, means) -> None:
        """Store a metric's (full, masked, background) values; the regions only with a mask."""
        for region, value in zip(protocol.REGIONS, means, strict=True):
            if value is not None:
                out[f"{metric}_{region}"] = value
