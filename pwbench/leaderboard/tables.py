"""The leaderboard's numbers for one task, computed from checked entries (never typed in).

Per horizon and camera group, one row per entry: mean and 95 % bootstrap CI of every metric and
region; a rank by External LPIPS with a bootstrap CI over clips (calibration and reported rows are
not ranked; overlapping rank CIs are ties); paired columns on the same clips — *skill* (LPIPS minus
copy-last's) and *action sensitivity* (PSNR with true minus with shuffled actions, where the entry
carries its shuffled run); *seed noise* (how much the ranking metric moves when only the model's
sampling noise changes, where the entry carries seed runs) with the rows whose gap to the row ranked
above is within it flagged; and a paired win-rate matrix. Per group, the drift summary: the area
under the per-frame LPIPS curve and the first time the curve crosses each threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pwbench import protocol, stats
from pwbench.leaderboard.entries import Entry
from pwbench.results.schema import ClipRecord
from pwbench.stats import holm, paired_test, window

REGIONS = protocol.REGIONS
GROUPS = tuple(protocol.GROUPS)
KEYS = tuple(f"{m}_{r}" for m in protocol.METRICS for r in REGIONS)
RANK_BY = ("External", "lpips_full")
BOOTSTRAP = 1000
SKILL_KEY = "lpips_full"  # skill vs copy-last: the ranking metric
SENSITIVITY_KEY = "psnr_full"  # action sensitivity: where a mean predictor's gap shows (docs/baselines)
DRIFT_KEY = "lpips_full"
DRIFT_THRESHOLDS = (0.1, 0.2, 0.3)  # LPIPS levels: "close", "visibly off", "lost" on droid-sim's scenes
SEED_FLAG = 2.0  # a row is flagged when its gap to the row above is below this many seed-noise SDs of the gap
WIN_ALPHA = 0.05  # a win-rate cell is marked when its Holm-corrected Wilcoxon p is below this


def estimate(entry: Entry, h: str, group: str, key: str) -> dict[str, Any] | None:
    """Mean (and CI) of one metric key, up-to-h, as the summary (or the paper) states it."""
    if entry.sub.tier == "reported":
        value = (entry.sub.reported or {}).get(h, {}).get(group, {}).get(key)
        return None if value is None else {"mean": value, "ci_low": None, "ci_high": None, "n": None}
    block = entry.summary.results.get(h, {}).get(group, {}).get(key)
    if block is None:
        return None
    est = dict(block["up_to"])
    mean = est.get("mean")
    return None if mean is None or (isinstance(mean, float) and math.isnan(mean)) else est


def clip_scores(records: dict[str, ClipRecord], clip_ids: list[str], group: str, key: str, h: int) -> np.ndarray:
    """Per-clip up-to-h scores of a group (NaN for a clip without a record)."""
    return stats.clip_scores(records, clip_ids, key, protocol.GROUPS[group], window("up_to", h))


def _bootstrap(diff: np.ndarray) -> dict[str, float] | None:
    diff = diff[~np.isnan(diff)]
    if diff.size == 0:
        return None
    rng = np.random.default_rng(protocol.BOOTSTRAP_SEED)
    boots = diff[rng.integers(0, diff.size, size=(BOOTSTRAP, diff.size))].mean(axis=1)
    return {"mean": float(diff.mean()), "ci_low": float(np.percentile(boots, 2.5)),
            "ci_high": float(np.percentile(boots, 97.5)), "n": int(diff.size)}


def paired_difference(a: dict[str, ClipRecord], b: dict[str, ClipRecord], group: str, key: str,
                      h: int) -> dict[str, float] | None:
    """Mean of a - b over the clips both have, with a bootstrap CI and the Wilcoxon p."""
    clip_ids = sorted(set(a) & set(b))
    sa, sb = clip_scores(a, clip_ids, group, key, h), clip_scores(b, clip_ids, group, key, h)
    est = _bootstrap(sa - sb)
    if est is not None:
        est["p"] = paired_test(sa, sb, protocol.HIGHER_IS_BETTER[key.split("_")[0]]).wilcoxon_p
    return est


def _ranks(rows: list[dict], entries: dict[str, Entry], h: int) -> None:
    """Rank the harness rows (same fingerprint) by External LPIPS, with a bootstrap CI over clips."""
    ranked = [r for r in rows if r["kind"] == "model" and r["scores"].get(RANK_BY[1])]
    if not ranked:
        return
    first = entries[ranked[0]["slug"]]
    clip_ids = sorted(first.records)
    same = [r for r in ranked if entries[r["slug"]].sub.fingerprint == first.sub.fingerprint]
    scores = np.stack([clip_scores(entries[r["slug"]].records, clip_ids, *RANK_BY, h) for r in same])
    lower_better = not protocol.HIGHER_IS_BETTER[RANK_BY[1].split("_")[0]]
    rng = np.random.default_rng(protocol.BOOTSTRAP_SEED)
    idx = rng.integers(0, scores.shape[1], size=(BOOTSTRAP, scores.shape[1]))
    means = np.nanmean(scores[:, idx], axis=2)  # (models, samples)
    order = means if lower_better else -means
    ranks = order.argsort(axis=0).argsort(axis=0) + 1
    point = (np.nanmean(scores, axis=1) * (1 if lower_better else -1)).argsort().argsort() + 1
    cis = [(int(np.percentile(ranks[i], 2.5)), int(np.percentile(ranks[i], 97.5))) for i in range(len(same))]
    for i, row in enumerate(same):
        row["rank"], row["rank_ci"] = int(point[i]), cis[i]
        row["tied"] = any(j != i and cis[j][0] <= cis[i][1] and cis[i][0] <= cis[j][1] for j in range(len(same)))


def seed_noise(entry: Entry, group: str, key: str, h: int) -> dict[str, Any] | None:
    """The seed noise of the entry's mean (over all its clips) of one key, up-to-h, or None.

    The main run and each seed run are seed samples on the seed runs' clip subset. Each clip's
    variance over seeds (ddof 1) estimates how much that clip's score moves with the sampling noise
    alone; clips draw their noise independently (``rollout.clip_seed``), so the noise of a mean over
    the entry's N clips has variance mean(per-clip variance) / N. ``subset_means``: seed -> mean over
    the subset (the figure)."""
    if not entry.seeds or entry.records is None:
        return None
    subset = sorted(next(iter(entry.seeds.values())))
    samples = {entry.seed: entry.records, **entry.seeds}
    scores = np.stack([clip_scores(records, subset, group, key, h) for records in samples.values()])
    with np.errstate(all="ignore"):
        variance = np.nanvar(scores, axis=0, ddof=1)
        sd = math.sqrt(float(np.nanmean(variance)) / len(entry.records)) if np.isfinite(variance).any() else math.nan
        means = np.nanmean(scores, axis=1)
    return {"sd": sd, "seeds": len(samples), "clips": len(subset), "n": len(entry.records),
            "subset_means": {seed: float(m) for seed, m in zip(samples, means, strict=True)}}


def _seed_flags(rows: list[dict]) -> None:
    """Flag each ranked row whose gap to the row ranked just above is below SEED_FLAG seed-noise SDs
    of that gap (the SDs of the two means combined; a row without seed runs counts as noiseless, so
    a flag needs at least one of the two measured)."""
    ranked = sorted((r for r in rows if r["rank"]), key=lambda r: r["rank"])
    for above, row in zip(ranked, ranked[1:], strict=False):
        sds = [r["seed_noise"]["sd"] for r in (above, row)
               if r["seed_noise"] and np.isfinite(r["seed_noise"]["sd"])]
        if not sds:
            continue
        gap = abs(row["scores"][RANK_BY[1]]["mean"] - above["scores"][RANK_BY[1]]["mean"])
        row["within_seed_noise"] = gap < SEED_FLAG * math.sqrt(sum(sd * sd for sd in sds))


def paired_rows(entries: list[Entry]) -> list[Entry]:
    """Harness entries that share the first one's fingerprint (the same clips, comparable clip by clip)."""
    harness = [e for e in entries if e.harness]
    return [e for e in harness if e.sub.fingerprint == harness[0].sub.fingerprint] if harness else []


def win_matrix(entries: list[Entry], group: str, h: int, key: str = RANK_BY[1]) -> dict[str, Any] | None:
    """Paired win rate of every row entry over every column entry (share of clips where the row is
    better; ties half), with Holm-corrected Wilcoxon p across the matrix."""
    rows = paired_rows(entries)
    if len(rows) < 2:
        return None
    clip_ids = sorted(rows[0].records)
    scores = [clip_scores(e.records, clip_ids, group, key, h) for e in rows]
    higher = protocol.HIGHER_IS_BETTER[key.split("_")[0]]
    cells, ps = [], []
    for i in range(len(rows)):
        line = []
        for j in range(len(rows)):
            if i == j:
                line.append(None)
                continue
            result = paired_test(scores[i], scores[j], higher)
            line.append({"win": result.win_rate, "p": result.wilcoxon_p})
            ps.append(result.wilcoxon_p)
        cells.append(line)
    adjusted = iter(holm(ps))
    for line in cells:
        for cell in line:
            if cell is not None:
                cell["p_holm"] = next(adjusted)
                cell["significant"] = cell["p_holm"] < WIN_ALPHA
    return {"names": [e.sub.model + (f" ({e.sub.variant})" if e.sub.variant else "") for e in rows],
            "slugs": [e.slug for e in rows], "cells": cells, "key": key}


def drift_stats(entry: Entry, group: str, key: str = DRIFT_KEY) -> dict[str, Any] | None:
    """Area under the per-frame curve (metric x seconds, trapezoid from the start frame, where the
    error is 0) and the first time the curve crosses each of DRIFT_THRESHOLDS (None: never)."""
    if entry.summary is None or group not in entry.summary.curves:
        return None
    curve = np.array([math.nan if v is None else v for v in entry.summary.curves[group][key]], dtype=np.float64)
    if curve.size == 0 or np.isnan(curve).all():
        return None
    seconds = np.arange(curve.size + 1) / protocol.FPS
    values = np.concatenate([[0.0], np.nan_to_num(curve, nan=float(np.nanmean(curve)))])
    auc = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(seconds)))
    crossings = {}
    for tau in DRIFT_THRESHOLDS:
        above = np.flatnonzero(curve > tau)
        crossings[tau] = float(seconds[above[0] + 1]) if above.size else None
    return {"auc": auc, "seconds": float(seconds[-1]), "crossings": crossings}


def task_tables(entries: list[Entry]) -> dict[str, Any]:
    """Horizon names, rows[horizon][group] (ranked rows first), win matrices and drift stats."""
    by_slug = {e.slug: e for e in entries}
    horizons = [h for h in protocol.HORIZON_GRID
                if any(e.summary is not None and h in e.summary.results or
                       e.sub.reported and h in e.sub.reported for e in entries)]
    reference = next((e for e in paired_rows(entries) if e.sub.model == "copy-last"), None)
    tables: dict[str, dict[str, list[dict]]] = {}
    wins: dict[str, dict[str, Any]] = {}
    for h in horizons:
        frames = protocol.HORIZON_GRID[h]
        tables[h], wins[h] = {}, {}
        for group in GROUPS:
            rows = []
            for e in entries:
                values = {k: est for k in KEYS if (est := estimate(e, h, group, k)) is not None}
                if not values:
                    continue
                comparable = reference is not None and e.harness and e is not reference and \
                    e.sub.fingerprint == reference.sub.fingerprint
                rows.append({"slug": e.slug, "model": e.sub.model, "variant": e.sub.variant, "tier": e.sub.tier,
                             "kind": e.kind, "scores": values, "rank": None, "rank_ci": None, "tied": False,
                             "skill": paired_difference(e.records, reference.records, group, SKILL_KEY, frames)
                             if comparable else None,
                             "sensitivity": paired_difference(e.records, e.shuffled, group, SENSITIVITY_KEY,
                                                              frames) if e.shuffled else None,
                             "seed_noise": seed_noise(e, group, RANK_BY[1], frames),
                             "within_seed_noise": False})
            if group == RANK_BY[0]:
                _ranks(rows, by_slug, frames)
                _seed_flags(rows)
            else:  # the same rank and flags (they are by External LPIPS) on the Wrist table
                for row in rows:
                    ext = next((r for r in tables[h].get(RANK_BY[0], []) if r["slug"] == row["slug"]), None)
                    if ext:
                        row.update(rank=ext["rank"], rank_ci=ext["rank_ci"], tied=ext["tied"],
                                   within_seed_noise=ext["within_seed_noise"])
            kind_order = {"model": 0, "calibration": 1, "reported": 2}
            rows.sort(key=lambda r: (kind_order[r["kind"]], r["rank"] or 10**6, r["model"]))
            tables[h][group] = rows
            if group == RANK_BY[0]:
                wins[h][group] = win_matrix(entries, group, frames)
    drift = {group: [(e, stats) for e in paired_rows(entries) if (stats := drift_stats(e, group))]
             for group in GROUPS}
    return {"horizons": horizons, "rows": tables, "wins": wins, "drift": drift}


def flat(task: str, tables: dict[str, dict[str, list[dict]]]) -> list[dict[str, Any]]:
    """Every table cell as one long row (the CSV and JSON downloads)."""
    out = []
    for h, groups in tables.items():
        for group, rows in groups.items():
            for row in rows:
                for key, est in row["scores"].items():
                    metric, region = key.split("_")
                    out.append({"task": task, "entry": row["slug"], "model": row["model"], "variant": row["variant"],
                                "tier": row["tier"], "horizon": h, "group": group, "metric": metric,
                                "region": region, "mean": est["mean"], "ci_low": est.get("ci_low"),
                                "ci_high": est.get("ci_high"), "n": est.get("n"), "rank": row["rank"]})
    return out
