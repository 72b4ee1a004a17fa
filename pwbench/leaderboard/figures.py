"""The task page's figures: every harness model's drift curve on one axis (with CIs), the seed-noise
figure (each seed of each model with seed runs, by horizon), and the masked-vs-full scatter that
shows who "freezes the background" (good full-frame numbers bought by not moving: a low full-frame
LPIPS with a high object-masked one)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pwbench import protocol
from pwbench.io import atomic_path
from pwbench.leaderboard.entries import Entry
from pwbench.leaderboard.tables import DRIFT_KEY, DRIFT_THRESHOLDS, GROUPS, RANK_BY, estimate, paired_rows, seed_noise

Z95 = 1.96


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> bool:
    """Lay out, write atomically as PNG, close; True (the figure exists)."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    _pyplot().close(fig)
    return True


def _label(e: Entry) -> str:
    return e.sub.model + (f" ({e.sub.variant})" if e.sub.variant else "")


def frame_curve(entry: Entry, group: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame mean over clips and the half-width of its normal 95 % CI (clip values per frame are
    the mean over the group's views)."""
    views = protocol.GROUPS[group]
    per_clip = []
    for record in entry.records.values():
        rows = [[math.nan if v is None else v for v in record.metrics[v][key]] for v in views if v in record.metrics]
        if rows:
            with np.errstate(all="ignore"):
                per_clip.append(np.nanmean(np.array(rows, dtype=np.float64), axis=0))
    frames = min((len(c) for c in per_clip), default=0)
    values = np.array([c[:frames] for c in per_clip]) if per_clip else np.zeros((0, 0))
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        n = np.sum(~np.isnan(values), axis=0)
        half = Z95 * np.nanstd(values, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    return mean, np.where(n > 1, half, np.nan)


def plot_task_drift(entries: list[Entry], path: Path, key: str = DRIFT_KEY) -> bool:
    """One panel per camera group, one line (mean, shaded 95 % CI) per harness entry."""
    plt = _pyplot()

    rows = paired_rows(entries)
    if not rows:
        return False
    fig, axes = plt.subplots(1, len(GROUPS), figsize=(6 * len(GROUPS), 3.8), squeeze=False)
    for ax, group in zip(axes[0], GROUPS, strict=True):
        for e in rows:
            mean, half = frame_curve(e, group, key)
            if mean.size == 0:
                continue
            t = (np.arange(mean.size) + 1) / protocol.FPS
            line, = ax.plot(t, mean, label=_label(e), lw=1.6, ls="--" if e.kind == "calibration" else "-")
            ax.fill_between(t, mean - half, mean + half, color=line.get_color(), alpha=0.15, lw=0)
        for tau in DRIFT_THRESHOLDS:
            ax.axhline(tau, color="#999", lw=0.6, ls=":")
        ax.set_title(f"{group} cameras: per-frame {key.replace('_', ' ')} (mean, 95 % CI over clips)")
        ax.set_xlabel("seconds after the start frame")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


def plot_masked_vs_full(entries: list[Entry], horizon: str, path: Path, group: str = "External",
                        metric: str = "lpips") -> bool:
    """Object-masked vs full-frame metric per entry at one horizon (harness rows; reported rows
    have no masked numbers). Above the diagonal: the objects are worse than the frame."""
    plt = _pyplot()

    points = [(e, f, m) for e in entries if e.harness
              and (f := estimate(e, horizon, group, f"{metric}_full")) and (m := estimate(e, horizon, group,
                                                                                           f"{metric}_masked"))]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for e, f, m in points:
        ax.errorbar(f["mean"], m["mean"], xerr=[[f["mean"] - f["ci_low"]], [f["ci_high"] - f["mean"]]],
                    yerr=[[m["mean"] - m["ci_low"]], [m["ci_high"] - m["mean"]]], fmt="o", capsize=2,
                    label=_label(e))
    lo = min(min(f["mean"], m["mean"]) for _, f, m in points) * 0.9
    hi = max(max(f["mean"], m["mean"]) for _, f, m in points) * 1.1
    ax.plot([lo, hi], [lo, hi], color="#999", lw=0.8, ls=":")
    ax.set_xlabel(f"{group} {metric.upper()} full frame (up to {horizon})")
    ax.set_ylabel(f"{group} {metric.upper()} object-masked")
    ax.set_title("masked vs full: above the diagonal, the objects are worse than the scene", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_seed_noise(entries: list[Entry], path: Path, group: str = RANK_BY[0], key: str = RANK_BY[1]) -> bool:
    """Left: one line per seed per entry with seed runs, the mean of ``key`` over the seed subset,
    up-to-h, at every grid horizon the runs cover. Right: the same lines minus the entry's mean over
    its seeds (the spread the left panel's scale hides), with each entry's ±2 SD band for a mean over
    the subset's clips (the lines' own scale; the table's SD is for the mean over all N clips, the
    subset's divided by sqrt(N / subset))."""
    plt = _pyplot()

    with_seeds = [e for e in paired_rows(entries) if e.seeds]
    if not with_seeds:
        return False
    longest = min(min(r.horizon for r in e.records.values()) for e in with_seeds)
    grid = [(name, frames) for name, frames in protocol.HORIZON_GRID.items() if frames <= longest]
    t = np.array([frames / protocol.FPS for _, frames in grid])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, e in enumerate(with_seeds):
        per_h = [seed_noise(e, group, key, frames) for _, frames in grid]
        seeds = list(per_h[0]["subset_means"])
        lines = np.array([[n["subset_means"][seed] for n in per_h] for seed in seeds])  # (seeds, horizons)
        sd = np.array([n["sd"] * np.sqrt(n["n"] / n["clips"]) for n in per_h])  # of a subset mean
        colour = f"C{i}"
        for j, line in enumerate(lines):
            label = f"{_label(e)}: {len(seeds)} seeds x {per_h[0]['clips']} clips" if j == 0 else None
            left.plot(t, line, color=colour, lw=1.0, alpha=0.8, marker="o", ms=3, label=label)
            right.plot(t, line - lines.mean(axis=0), color=colour, lw=1.0, alpha=0.8, marker="o", ms=3)
        right.fill_between(t, -2 * sd, 2 * sd, color=colour, alpha=0.12, lw=0,
                           label=f"{_label(e)}: ±2 SD of a {per_h[0]['clips']}-clip mean")
    for ax in (left, right):
        ax.set_xticks(t, [name for name, _ in grid])
        ax.set_xlabel("horizon (up-to-h)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    left.set_ylabel(f"{group} {key.replace('_', ' ')}")
    left.set_title("one line per seed (mean over the seed subset's clips)", fontsize=9)
    right.axhline(0, color="#999", lw=0.6)
    right.set_title("each seed minus the model's mean over seeds", fontsize=9)
    return _save(fig, path)
