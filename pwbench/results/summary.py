"""The run summary: every grid horizon, group and metric, with bootstrap CIs, plus cost.

Built only from the run manifest and the per-clip records, so any run folder (or a merge of
several) can be re-aggregated at any time without running or even loading a model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pwbench import __version__, protocol
from pwbench.io import atomic_write_json
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import METRIC_KEYS, REGION_KEYS, ClipCounts, ClipRecord, Cost, Failure, RunManifest, Summary
from pwbench.stats import _nanmean, bootstrap_mean, clip_group_score, window

KINDS = ("up_to", "at")


def mask_note(task: str, masks: str, dataset: dict[str, Any], views: tuple[str, ...]) -> str | None:
    """Why some masked and background rows are empty, in one line (None: every view has masks).
    Printed by ``run`` and ``data prepare`` and recorded in summary.json, so it is never silent."""
    spec = protocol.TASKS.get(task)
    if masks != "available":
        how = (f"; compute SAM masks once with pwbench data prepare --task {task} --sam-checkpoint PATH"
               if spec is not None and spec.mask_source == "sam" else "")
        return f"the dataset has no object masks: masked and background metrics are null{how}"
    masked = dataset.get("mask_views")
    missing = [v for v in views if masked and v not in masked]
    if not missing:
        return None
    return (f"object masks are SAM's ({dataset.get('mask_version')}) on {', '.join(masked)} only: the wrist "
            f"camera moves with the gripper, so {', '.join(missing)} has no masked or background metrics")


def view_sets(views: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Groups reported (External, Wrist) plus each view on its own."""
    sets = {g: tuple(v for v in vs if v in views) for g, vs in protocol.GROUPS.items()}
    sets = {g: vs for g, vs in sets.items() if vs}
    sets.update({v: (v,) for v in views})
    return sets


def summarize(run: RunManifest, records: dict[str, ClipRecord], timings: list[dict[str, Any]],
              model_spec: dict[str, Any] | None = None) -> Summary:
    clip_ids = run.clip_ids
    ok = [records[c] for c in clip_ids if c in records and records[c].ok]
    failed = [records[c] for c in clip_ids if c in records and not records[c].ok]
    views = tuple(run.views)
    results: dict[str, Any] = {}
    arrays = [_frame_arrays(r) for r in ok]  # converted once, not once per horizon, group and window
    for name, h in protocol.grid_upto(run.horizon).items():
        results[name] = {}
        for group, members in view_sets(views).items():
            block: dict[str, Any] = {}
            for key in METRIC_KEYS:
                block[key] = {}
                for kind in KINDS:
                    sl = window(kind, h)
                    values = np.array([clip_group_score({v: a[(v, key)] for v in members if (v, key) in a}, members, sl)
                                       for a in arrays])
                    block[key][kind] = bootstrap_mean(values).as_dict()
            results[name][group] = block
    return Summary(
        harness_version=__version__,
        fingerprint=run.fingerprint,
        task=run.task,
        model=run.model,
        model_spec=model_spec or {},
        horizon=run.horizon,
        horizons=tuple(results),
        regime=protocol.REGIME,
        actions=run.actions,
        masks=run.masks,
        mask_note=mask_note(run.task, run.masks, run.dataset, tuple(run.views)),
        config=run.config,
        git_hash=run.git_hash,
        machine=run.machine,
        clips=ClipCounts(total=len(clip_ids), ok=len(ok), failed=len(failed),
                         missing=len(clip_ids) - len(ok) - len(failed)),
        failures=tuple(Failure(clip_id=r.clip_id, error=r.error) for r in failed),
        excluded_frames={k: sum(v[k] for r in ok for v in r.excluded_frames.values()) for k in REGION_KEYS},
        cost=cost(timings),
        results=results,
        curves=curves(ok, views, run.horizon),
    )


def _frame_arrays(record: ClipRecord) -> dict[tuple[str, str], np.ndarray]:
    return {(view, key): np.array([math.nan if v is None else v for v in values], dtype=np.float64)
            for view, metrics in record.metrics.items() for key, values in metrics.items()}


def curves(ok: list[ClipRecord], views: tuple[str, ...], horizon: int) -> dict[str, dict[str, list]]:
    """Per-frame means over clips (the drift curve), per group and metric key: at each frame, a
    clip's value is the mean over the group's views that have one, then the mean over clips.
    Vectorised over clips and frames with the same arithmetic as ``clip_group_score`` on a
    one-frame window (so summaries stay byte-identical), then ``_nanmean`` per frame."""
    out: dict[str, dict[str, list]] = {}
    for group, members in view_sets(views).items():
        out[group] = {}
        for key in METRIC_KEYS:
            if not ok:
                out[group][key] = [math.nan] * horizon
                continue
            per_view = np.full((len(members), len(ok), horizon), np.nan)
            for i, view in enumerate(members):
                for j, r in enumerate(ok):
                    if view in r.metrics:
                        values = r.metrics[view][key]
                        per_view[i, j, :len(values)] = [math.nan if v is None else v for v in values][:horizon]
            finite = ~np.isnan(per_view)
            count = finite.sum(axis=0)
            total = np.zeros((len(ok), horizon))
            for i in range(len(members)):  # in view order, as the per-clip mean adds them
                total = total + np.where(finite[i], per_view[i], 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                clip_frame = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            out[group][key] = [_nanmean(np.ascontiguousarray(clip_frame[:, t])) for t in range(horizon)]
    return out


def cost(timings: list[dict[str, Any]]) -> Cost:
    frames = sum(t["frames"] for t in timings)
    seconds = float(sum(t["rollout_s"] for t in timings))
    devices = sorted({t.get("device", "unknown") for t in timings})
    return Cost(seconds_per_frame=seconds / frames if frames else None, rollout_seconds=seconds, frames=frames,
                device=", ".join(devices) or "unknown")


def write_summary(run_dir: RunDir) -> Summary:
    """Rebuild ``summary.json`` (and ``drift.png``) of a run folder from its records."""
    from pwbench.results.report import plot_drift

    run = run_dir.read_manifest()
    summary = summarize(run, run_dir.records(run.clip_ids), run_dir.timings(), run_dir.model_spec())
    atomic_write_json(run_dir.path / "summary.json", summary.to_json())
    if summary.clips.ok:
        plot_drift({run.model: summary}, run_dir.path / "drift.png")
    return summary
