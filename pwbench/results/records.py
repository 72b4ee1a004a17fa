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
from pwbench.errors import RunMismatch

RECORD_SCHEMA = "pwbench.clip/2"  # 2: excluded_frames per metric and region
METRIC_KEYS: tuple[str, ...] = tuple(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)
REGION_KEYS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if not k.endswith("_full"))


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).tolist()]


def ok_record(fingerprint: str, clip_id: str, model: str, horizon: int,
              scores: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """A scored clip. ``scores``: view -> FrameScorer output (metric key -> per-frame values)."""
    metrics = {view: {key: _floats(out[key]) for key in METRIC_KEYS} for view, out in scores.items()}
    coverage = {view: _floats(out["mask_coverage"]) for view, out in scores.items()}
    excluded = _excluded(metrics)
    return {
        **_header(fingerprint, clip_id, model, horizon, "ok"),
        "metrics": metrics,
        "mask_coverage": coverage,
        "excluded_frames": excluded,
    }


def _excluded(metrics: dict[str, dict[str, list[float | None]]]) -> dict[str, dict[str, int]]:
    # frames left out of a region's means: too little coverage, or (SSIM) a mask wholly inside the
    # cropped border; counted per metric, since the rules differ
    return {view: {key: int(sum(v is None for v in values[key])) for key in REGION_KEYS}
            for view, values in metrics.items()}


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A record of an older schema in the current one (clip/1 counted only masked-PSNR exclusions;
    the per-metric counts follow from its values)."""
    if record.get("schema") == "pwbench.clip/1":
        record = {k: v for k, v in record.items() if k != "masked_frames_excluded"}
        if record.get("status") == "ok":
            record["excluded_frames"] = _excluded(record["metrics"])
        record["schema"] = RECORD_SCHEMA
    return record


def check_record(record: dict[str, Any], run: dict[str, Any], clip_id: str, where: str) -> None:
    """Refuse a record that does not belong to this run (copied in, or left by another run)."""
    if record.get("schema") != RECORD_SCHEMA:
        raise RunMismatch(f"{where}: record schema {record.get('schema')!r}, this pwbench reads {RECORD_SCHEMA!r}")
    expected = {"clip_id": clip_id, "fingerprint": run.get("fingerprint"), "model": run.get("model"),
                "horizon": run.get("horizon")}
    for key, value in expected.items():
        if record.get(key) != value:
            raise RunMismatch(f"{where}: record has {key}={record.get(key)!r}, the run has {value!r}; "
                              "it belongs to another run (move it away to redo the clip)")
    if record.get("status") not in ("ok", "failed"):
        raise RunMismatch(f"{where}: record status {record.get('status')!r} is neither 'ok' nor 'failed'")


def failed_record(fingerprint: str, clip_id: str, model: str, horizon: int, reason: str) -> dict[str, Any]:
    return {**_header(fingerprint, clip_id, model, horizon, "failed"), "error": reason}


def _header(fingerprint: str, clip_id: str, model: str, horizon: int, status: str) -> dict[str, Any]:
    return {"schema": RECORD_SCHEMA, "fingerprint": fingerprint, "clip_id": clip_id, "model": model,
            "horizon": horizon, "status": status}
