"""The run summary: every grid horizon, group and metric, with bootstrap CIs, plus cost.

Built only from the run manifest and the per-clip records, so any run folder (or a merge of
several) can be re-aggregated at any time without running or even loading a model.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from pwbench import __version__, protocol
from pwbench.io import atomic_write_json
from pwbench.results.records import METRIC_KEYS, REGION_KEYS
from pwbench.results.run_dir import RunDir
from pwbench.stats import _nanmean, bootstrap_mean, clip_group_score, window

SUMMARY_SCHEMA = "pwbench.summary/1"
KINDS = ("up_to", "at")


def view_sets(views: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Groups reported (External, Wrist) plus each view on its own."""
    sets = {g: tuple(v for v in vs if v in views) for g, vs in protocol.GROUPS.items()}
    sets = {g: vs for g, vs in sets.items() if vs}
    sets.update({v: (v,) for v in views})
    return sets


def summarize(run: dict[str, Any], records: dict[str, dict[str, Any]],
              timings: list[dict[str, Any]]) -> dict[str, Any]:
    clip_ids = [c["clip_id"] for c in run["clips"]]
    ok = [records[c] for c in clip_ids if c in records and records[c]["status"] == "ok"]
    failed = [records[c] for c in clip_ids if c in records and records[c]["status"] == "failed"]
    horizon = int(run["horizon"])
    views = tuple(run["views"])
    results: dict[str, Any] = {}
    for name, h in protocol.grid_upto(horizon).items():
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
    return {
        "schema": SUMMARY_SCHEMA,
        "harness_version": __version__,
        "fingerprint": run["fingerprint"],
        "task": run["task"],
        "model": run["model"],
        "model_spec": run.get("model_spec", {}),
        "horizon": horizon,
        "horizons": list(results),  # grid order (the results mapping is key-sorted on disk)
        "regime": protocol.REGIME,
        "actions": run.get("actions", "true"),
        "masks": run.get("masks", "available"),
        "config": run.get("config", {}),
        "git_hash": run.get("git_hash"),
        "machine": run.get("machine"),
        "clips": {"total": len(clip_ids), "ok": len(ok), "failed": len(failed),
                  "missing": len(clip_ids) - len(ok) - len(failed)},
        "failures": [{"clip_id": r["clip_id"], "error": r["error"]} for r in failed],
        "excluded_frames": {k: sum(v[k] for r in ok for v in r["excluded_frames"].values()) for k in REGION_KEYS},
        "cost": cost(timings),
        "results": results,
        "curves": curves(ok, views, horizon),
    }


def _group_values(record: dict[str, Any], key: str, members: tuple[str, ...], sl: slice) -> float:
    per_view = {v: record["metrics"][v][key] for v in members if v in record["metrics"]}
    return clip_group_score(per_view, members, sl)


def curves(ok: list[dict[str, Any]], views: tuple[str, ...], horizon: int) -> dict[str, dict[str, list]]:
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


def cost(timings: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds per predicted frame (all views of one time step), as the 1X challenge reports."""
    frames = sum(t["frames"] for t in timings)
    seconds = sum(t["rollout_s"] for t in timings)
    devices = sorted({t.get("device", "unknown") for t in timings})
    return {"seconds_per_frame": seconds / frames if frames else math.nan,
            "rollout_seconds": seconds, "frames": frames, "device": ", ".join(devices) or "unknown"}


def write_summary(run_dir: RunDir) -> dict[str, Any]:
    """Rebuild ``summary.json`` (and ``drift.png``) of a run folder from its records."""
    from pwbench.results.report import plot_drift

    run = run_dir.read_manifest()
    records = run_dir.records([c["clip_id"] for c in run["clips"]])
    spec_path = run_dir.path / "model.json"
    run["model_spec"] = json.loads(spec_path.read_text()) if spec_path.is_file() else {}
    summary = summarize(run, records, run_dir.timings())
    atomic_write_json(run_dir.path / "summary.json", summary)
    if summary["clips"]["ok"]:
        plot_drift({run["model"]: summary}, run_dir.path / "drift.png")
    return summary
