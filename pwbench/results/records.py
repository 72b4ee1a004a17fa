"""Per-clip records: the unit of resume, merge and re-aggregation.

A record holds per-frame, per-view metric values and mask coverage for one clip, and nothing
that varies between two runs of the same command (timings live beside it, in ``timing/``), so
an interrupted-and-resumed run writes byte-identical records to an uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pwbench import protocol

RECORD_SCHEMA = "pwbench.clip/1"
METRIC_KEYS: tuple[str, ...] = tuple(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).tolist()]


def ok_record(fingerprint: str, clip_id: str, model: str, horizon: int,
              scores: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """A scored clip. ``scores``: view -> FrameScorer output (metric key -> per-frame values)."""
    metrics = {view: {key: _floats(out[key]) for key in METRIC_KEYS} for view, out in scores.items()}
    coverage = {view: _floats(out["mask_coverage"]) for view, out in scores.items()}
    excluded = {view: int(sum(v is None for v in metrics[view]["psnr_masked"])) for view in metrics}
    return {
        **_header(fingerprint, clip_id, model, horizon, "ok"),
        "metrics": metrics,
        "mask_coverage": coverage,
        "masked_frames_excluded": excluded,
    }


def failed_record(fingerprint: str, clip_id: str, model: str, horizon: int, reason: str) -> dict[str, Any]:
    return {**_header(fingerprint, clip_id, model, horizon, "failed"), "error": reason}


def _header(fingerprint: str, clip_id: str, model: str, horizon: int, status: str) -> dict[str, Any]:
    return {"schema": RECORD_SCHEMA, "fingerprint": fingerprint, "clip_id": clip_id, "model": model,
            "horizon": horizon, "status": status}
