"""``pwbench leaderboard build``: a static site from ``submissions/`` (HELM-style: JSON in, HTML out).

Only entries that pass ``pwbench check`` are published (the others are listed with their first
problem). Every page is rendered by jinja2 with autoescaping on, so whatever a submission writes
(a model name, an author, notes) is text, never markup; links are published only when they are
http(s). Every horizon's table is in the page (a selector shows one), so the site works from
``file://`` and from any static host, with no server and no fetch.

Per task: models x External/Wrist x PSNR/SSIM/LPIPS x full/masked/background, mean and 95 %
bootstrap CI; a rank by External LPIPS with a bootstrap CI over clips (calibration and reported
rows are not ranked; overlapping rank CIs are marked as ties); the paired skill vs copy-last.
Downloads: one CSV and one JSON table per task, the per-clip records as one parquet table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from pwbench import __version__, protocol
from pwbench.io import atomic_write_bytes, atomic_write_json
from pwbench.leaderboard.check import check_entry, find_entries, official_fingerprints
from pwbench.leaderboard.submission import SUBMISSION_FILE, Submission, slug
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ClipRecord, Summary
from pwbench.stats import clip_group_score, window

REGIONS = protocol.REGIONS
GROUPS = tuple(protocol.GROUPS)
CALIBRATION = ("copy-last", "oracle")
RANK_BY = ("External", "lpips_full")
BOOTSTRAP = 1000
DECIMALS = {"psnr": 2, "ssim": 3, "lpips": 3}
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS"}


@dataclass
class Entry:
    folder: Path
    slug: str
    sub: Submission
    summary: Summary | None = None
    records: dict[str, ClipRecord] | None = None

    @property
    def kind(self) -> str:
        if self.sub.tier == "reported":
            return "reported"
        return "calibration" if self.sub.model in CALIBRATION else "model"


def load(path: str | Path, official_only: bool = True) -> tuple[list[Entry], list[dict[str, str]]]:
    """Published entries (checked) and the excluded ones with their first problem.
    ``official_only=False`` (a preview of development runs) also publishes entries of other eval
    sets; every other check still applies."""
    folders = find_entries(path)
    tasks = set()
    for f in folders:
        try:
            tasks.add(Submission.read(f / SUBMISSION_FILE).task)
        except Exception:  # noqa: BLE001 - check_entry reports it
            pass
    official = official_fingerprints(tasks) if official_only else None
    entries, excluded, slugs = [], [], set()
    for folder in folders:
        problems = check_entry(folder, official)
        if problems:
            excluded.append({"folder": folder.name, "reason": problems[0]})
            continue
        sub = Submission.read(folder / SUBMISSION_FILE)
        name = slug(f"{sub.task}-{folder.name}")
        while name in slugs:
            name += "-x"
        slugs.add(name)
        entry = Entry(folder, name, sub)
        if sub.tier != "reported":
            run_dir = RunDir(folder)
            entry.summary = Summary.read(folder / "summary.json")
            entry.records = run_dir.records(run_dir.read_manifest().clip_ids)
        entries.append(entry)
    return entries, excluded


def _estimate(entry: Entry, h: str, group: str, key: str) -> dict[str, Any] | None:
    if entry.sub.tier == "reported":
        value = (entry.sub.reported or {}).get(h, {}).get(group, {}).get(key)
        return None if value is None else {"mean": value, "ci_low": None, "ci_high": None, "n": None}
    block = entry.summary.results.get(h, {}).get(group, {}).get(key)
    if block is None:
        return None
    est = dict(block["up_to"])
    return None if est.get("mean") is None or (isinstance(est["mean"], float) and math.isnan(est["mean"])) else est


def _clip_scores(entry: Entry, clip_ids: list[str], group: str, key: str, h: int) -> np.ndarray:
    views = protocol.GROUPS[group]
    out = []
    for c in clip_ids:
        r = entry.records.get(c)
        out.append(clip_group_score({v: r.metrics[v][key] for v in views if v in r.metrics}, views,
                                    window("up_to", h)) if r else math.nan)
    return np.array(out, dtype=np.float64)


def _ranks(rows: list[dict], entries: dict[str, Entry], h: int) -> None:
    """Rank the harness rows (same fingerprint) by External LPIPS, with a bootstrap CI over clips."""
    ranked = [r for r in rows if r["kind"] == "model" and r["scores"].get(RANK_BY[1])]
    if not ranked:
        return
    first = entries[ranked[0]["slug"]]
    clip_ids = sorted(first.records)
    same = [r for r in ranked if entries[r["slug"]].sub.fingerprint == first.sub.fingerprint]
    scores = np.stack([_clip_scores(entries[r["slug"]], clip_ids, RANK_BY[0], RANK_BY[1], h) for r in same])
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


def _skill(row: dict, entries: dict[str, Entry], reference: Entry | None, group: str, h: int) -> None:
    entry = entries[row["slug"]]
    if reference is None or entry.records is None or entry is reference or \
            entry.sub.fingerprint != reference.sub.fingerprint:
        return
    clip_ids = sorted(entry.records)
    diff = _clip_scores(entry, clip_ids, group, "lpips_full", h) - _clip_scores(reference, clip_ids, group,
                                                                                 "lpips_full", h)
    diff = diff[~np.isnan(diff)]
    if diff.size == 0:
        return
    rng = np.random.default_rng(protocol.BOOTSTRAP_SEED)
    boots = diff[rng.integers(0, diff.size, size=(BOOTSTRAP, diff.size))].mean(axis=1)
    row["skill"] = {"mean": float(diff.mean()), "ci_low": float(np.percentile(boots, 2.5)),
                    "ci_high": float(np.percentile(boots, 97.5))}


def task_tables(task: str, entries: list[Entry]) -> tuple[list[str], dict[str, dict[str, list[dict]]]]:
    """Horizon names and rows[horizon][group] for one task (ranked rows first, then the rest)."""
    by_slug = {e.slug: e for e in entries}
    horizons = [h for h in protocol.HORIZON_GRID
                if any(e.summary is not None and h in e.summary.results or
                       e.sub.reported and h in e.sub.reported for e in entries)]
    reference = next((e for e in entries if e.sub.model == "copy-last" and e.records is not None), None)
    tables: dict[str, dict[str, list[dict]]] = {}
    for h in horizons:
        frames = protocol.HORIZON_GRID[h]
        tables[h] = {}
        for group in GROUPS:
            rows = []
            for e in entries:
                values = {k: est for k in (f"{m}_{r}" for m in protocol.METRICS for r in REGIONS)
                          if (est := _estimate(e, h, group, k)) is not None}
                if not values:
                    continue
                rows.append({"slug": e.slug, "model": e.sub.model, "variant": e.sub.variant, "tier": e.sub.tier,
                             "kind": e.kind, "scores": values, "rank": None, "rank_ci": None, "tied": False,
                             "skill": None})
            if group == RANK_BY[0]:
                _ranks(rows, by_slug, frames)
            else:  # the same rank (it is by External LPIPS) on the Wrist table
                for row in rows:
                    ext = next((r for r in tables[h].get(RANK_BY[0], []) if r["slug"] == row["slug"]), None)
                    if ext:
                        row.update(rank=ext["rank"], rank_ci=ext["rank_ci"], tied=ext["tied"])
            for row in rows:
                _skill(row, by_slug, reference, group, frames)
            kind_order = {"model": 0, "calibration": 1, "reported": 2}
            rows.sort(key=lambda r: (kind_order[r["kind"]], r["rank"] or 10**6, r["model"]))
            tables[h][group] = rows
    return horizons, tables


def _flat(task: str, tables: dict[str, dict[str, list[dict]]]) -> list[dict[str, Any]]:
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


def _records_table(entries: list[Entry], path: Path) -> bool:
    """Every per-clip, per-frame value as one long parquet table (``datasets.load_dataset`` reads it)."""
    import pandas as pd

    rows = []
    for e in entries:
        for clip_id, r in (e.records or {}).items():
            for view, metrics in r.metrics.items():
                for key, values in metrics.items():
                    metric, region = key.split("_")
                    rows += [{"entry": e.slug, "model": e.sub.model, "tier": e.sub.tier, "clip_id": clip_id,
                              "view": view, "metric": metric, "region": region, "frame": t, "value": v}
                             for t, v in enumerate(values)]
    if not rows:
        return False
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return True


def csv_cell(value: Any) -> Any:
    """A submitted string as a spreadsheet will show it, not run it (``=cmd()`` is a formula)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def safe_url(url: str) -> str:
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else "#"


def build(submissions: str | Path, out: str | Path, official_only: bool = True) -> dict[str, Any]:
    """Render the site into ``out``; returns what was published and what was not."""
    import jinja2

    from leaderboard import ASSETS, TEMPLATES
    from pwbench.results.report import plot_drift

    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    shutil.copytree(ASSETS, out / "assets", dirs_exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             undefined=jinja2.StrictUndefined)
    env.filters["safe_url"] = safe_url
    entries, excluded = load(submissions, official_only)
    common = {"protocol_version": protocol.PROTOCOL_VERSION, "harness_version": __version__,
              "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "regions": REGIONS,
              "metrics": protocol.METRICS, "labels": LABELS, "decimals": DECIMALS, "groups": GROUPS}
    tasks = []
    for name in sorted({e.sub.task for e in entries}):
        mine = [e for e in entries if e.sub.task == name]
        horizons, tables = task_tables(name, mine)
        flat = _flat(name, tables)
        atomic_write_json(out / f"{name}.json", flat)
        text = io.StringIO()
        if flat:
            writer = csv.DictWriter(text, fieldnames=list(flat[0]))
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in flat)
        atomic_write_bytes(out / f"{name}.csv", text.getvalue().encode())
        parquet = f"{name}-records.parquet" if _records_table(mine, out / f"{name}-records.parquet") else None
        task = protocol.TASKS.get(name)
        tasks.append({"name": name, "description": task.description if task else "", "horizons": horizons,
                      "groups": GROUPS, "rows": tables, "parquet": parquet})
        for e in mine:
            drift = None
            if e.summary is not None and e.summary.clips.ok:
                plot_drift({e.sub.model: e.summary}, out / "models" / f"{e.slug}-drift.png")
                drift = f"{e.slug}-drift.png"
            per_horizon = {g: [(h, {k: est for k in (f"{m}_{r}" for m in protocol.METRICS for r in REGIONS)
                                    if (est := _estimate(e, h, g, k)) is not None}) for h in horizons]
                           for g in GROUPS}
            page = env.get_template("model.html.j2").render(root="../", entry=e.sub, per_horizon=per_horizon,
                                                             drift=drift, **common)
            atomic_write_bytes(out / "models" / f"{e.slug}.html", page.encode())
    index = env.get_template("index.html.j2").render(root="", tasks=tasks, excluded=excluded, **common)
    atomic_write_bytes(out / "index.html", index.encode())
    report = {"published": [e.slug for e in entries], "excluded": excluded}
    (out / "build.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
