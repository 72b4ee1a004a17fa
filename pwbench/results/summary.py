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
    for name, h in protocol.grid_upto(run.horizon).items():
        results[name] = {}
        for group, members in view_sets(views).items():
            block: dict[str, Any] = {}
            for key in METRIC_KEYS:
                block[key] = {}
                for kind in KINDS:
                    sl = window(kind, h)
                    values = np.array([_group_values(r, key, members, sl) for r in ok])
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


def _group_values(record: ClipRecord, key: str, members: tuple[str, ...], sl: slice) -> float:
    per_view = {v: record.metrics[v][key] for v in members if v in record.metrics}
    return clip_group_score(per_view, members, sl)


def curves(ok: list[ClipRecord], views: tuple[str, ...], horizon: int) -> dict[str, dict[str, list]]:
    """Per-frame means over clips (the drift curve), per group and metric key."""
    out: dict[str, dict[str, list]] = {}
    for group, members in view_sets(views).items():
        out[group] = {}
        for key in METRIC_KEYS:
            frames = []
            for t in range(horizon):
                sl = slice(t, t + 1)
                frames.append(_nanmean(np.array([_group_values(r, key, members, sl) for r in ok])) if ok
                              else math.nan)
            out[group][key] = frames
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
