"""Human-facing views of a summary: the printed table and the drift-curve plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pwbench import protocol
from pwbench.io import atomic_path
from pwbench.results.schema import Summary

TABLE_GROUPS = tuple(protocol.GROUPS)
TABLE_REGIONS = ("full", "masked")
DECIMALS = {"psnr": 2, "ssim": 3, "lpips": 3}
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS"}
KIND_LABELS = {"up_to": "up-to-h", "at": "at-h"}
FID_SCHEMA = "pwbench.fid/1"  # fid.json, written by `pwbench fid`
MOTION_SCHEMA = "pwbench.motion/1"  # motion.json, written by `pwbench motion`


def _cell(estimate: dict[str, Any], metric: str) -> str:
    mean = estimate.get("mean")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    d = DECIMALS[metric]
    return f"{mean:.{d}f} [{estimate['ci_low']:.{d}f},{estimate['ci_high']:.{d}f}]"


def _align(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, the first row a header underlined with dashes."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def format_table(summary: Summary) -> str:
    """External/Wrist × metric × masked/full × up-to/at, one column per grid horizon."""
    clips = summary.clips
    failed = f" (failed {clips.failed})" if clips.failed else ""
    regime = summary.regime + ("" if summary.actions == "true" else f" · {summary.actions} actions")
    head = (f"pwbench · task {summary.task} · model {summary.model} · {regime} · "
            f"{summary.horizon} frames · clips ok {clips.ok}/{clips.total}{failed}"
            f" · fingerprint {summary.fingerprint[:12]}")
    horizons = summary.horizons
    rows = [["group", "metric", "region", "window", *[f"{h}" for h in horizons]]]
    for group in TABLE_GROUPS:
        if group not in summary.results[horizons[0]]:
            continue
        for metric in protocol.METRICS:
            for region in TABLE_REGIONS:
                for kind in ("up_to", "at"):
                    cells = [_cell(summary.results[h][group][f"{metric}_{region}"][kind], metric)
                             for h in horizons]
                    rows.append([group, LABELS[metric], region, KIND_LABELS[kind], *cells])
    lines = [head, "", *_align(rows)]
    cost = summary.cost
    per_frame = "n/a" if cost.seconds_per_frame is None else f"{cost.seconds_per_frame:.3g}"
    lines += ["", f"95 % bootstrap CIs over clips. Cost: {per_frame} s per predicted frame on {cost.device}."]
    if summary.mask_note:
        lines.append(summary.mask_note[0].upper() + summary.mask_note[1:] + ".")
    elif summary.masks != "available":  # a summary from before mask_note was recorded
        lines.append("The dataset has no object masks: masked and background metrics are not computed.")
    if summary.failures:
        lines.append("Failed clips:")
        lines += [f"  {f.error}" for f in summary.failures]
    return "\n".join(lines)


def _fid_cell(entry: dict[str, Any]) -> str:
    value = "n/a" if entry.get("fid") is None else f"{entry['fid']:.2f}"
    return f"{value} (n={entry['n_frames']})"


def format_fid(fid: dict[str, Any]) -> str:
    """The optional FID section of ``fid.json`` (``pwbench fid``, ``pwbench status``): one row per
    view group, one column per horizon, every value with the frame count it came from, and the
    bias caveat, so a number from a few hundred frames is never read as a comparable FID."""
    inc, clips = fid["inception"], fid["clips"]
    weights = ("pytorch-fid's weights" if inc["official"]
               else "NOT pytorch-fid's weights: not comparable with published FID")
    failed = f" (failed {clips['failed']})" if clips["failed"] else ""
    head = (f"FID (optional, n frames) · up-to-h · inception {inc['sha256'][:12]} ({weights}) · "
            f"pytorch-fid {fid['pytorch_fid_version']} · clips {clips['used']}/{clips['total']}{failed}")
    horizons = fid["horizons"]
    rows = [["group", *horizons]] + [[g, *[_fid_cell(fid["results"][h][g]) for h in horizons]] for g in fid["groups"]]
    lines = [head, "", *_align(rows), "", fid["caveat"] + "."]
    lines += [f"  {h} {g}: {note}" for h in horizons for g in fid["groups"] for note in fid["results"][h][g]["notes"]]
    if fid["failures"]:
        lines.append("Failed clips (left out):")
        lines += [f"  {f['error']}" for f in fid["failures"]]
    return "\n".join(lines)


def format_motion(report: dict[str, Any]) -> str:
    """``motion.json`` (``pwbench motion``): one row per view group, at each horizon the predicted
    and the true change from the last context frame and their ratio."""
    run, horizons, clips = report["run"], report["horizons"], report["clips"]
    head = (f"change from the last context frame (uint8 levels, frame h) · {run['model']} · actions "
            f"{run['actions']} · clips {clips['used']}/{clips['total']} · predicted / true (ratio)")
    rows = [["group", *horizons]] + [[g, *[_motion_cell(report["results"][h][g]) for h in horizons]]
                                     for g in report["groups"]]
    lines = [head, "", *_align(rows)]
    if report["failures"]:
        lines += ["Failed clips (left out):", *[f"  {f['error']}" for f in report["failures"]]]
    return "\n".join(lines)


def _motion_cell(cell: dict[str, Any]) -> str:
    """Undefined values (no clip, or a recording that does not move: NaN, null once in JSON) read n/a."""
    def num(x: float | None) -> str:
        return "n/a" if x is None or x != x else f"{x:.2f}"
    return f"{num(cell['predicted'])} / {num(cell['truth'])} ({num(cell['ratio'])})"


def diagnostic_section(path: Path, fingerprint: str, command: str) -> str | None:
    """The section of a run folder's optional ``fid.json`` or ``motion.json`` (written by ``pwbench
    fid`` / ``pwbench motion``, named by ``command``), if there is one (None otherwise); a file that
    is unreadable or belongs to another run is named, in one line, instead of shown."""
    schema, title, formatter = _DIAGNOSTICS[command]
    if not path.is_file():
        return None
    again = f"run pwbench {command} again"
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{title}: {path} is unreadable ({err}); {again}"
    if not isinstance(report, dict) or report.get("schema") != schema:
        return f"{title}: {path} is not a {schema} file; {again}"
    if report.get("fingerprint") != fingerprint:
        return f"{title}: {path} was computed for another run (fingerprint differs); {again}"
    return formatter(report)


_DIAGNOSTICS = {"fid": (FID_SCHEMA, "FID (optional)", format_fid),
                "motion": (MOTION_SCHEMA, "Motion (diagnostic)", format_motion)}


def plot_drift(summaries: dict[str, Summary], path: Path, key: str = "lpips_full") -> None:
    """Per-frame curve (mean over clips) vs time for one or more runs, one panel per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in TABLE_GROUPS if any(g in s.curves for s in summaries.values())]
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.5), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=False):
        for name, summary in summaries.items():
            values = [math.nan if v is None else v for v in summary.curves[group][key]]
            times = [(t + 1) / protocol.FPS for t in range(len(values))]
            ax.plot(times, values, label=name)
        ax.set_title(f"{group}: {key.replace('_', ' ')}")
        ax.set_xlabel("seconds after the start frame")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
