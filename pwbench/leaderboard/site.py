"""``pwbench leaderboard build``: a static site from ``submissions/`` (HELM-style: JSON in, HTML out).

Only entries that pass ``pwbench check`` are published (the others are listed with their first
problem). Every page is rendered by jinja2 with autoescaping on, so whatever a submission writes
(a model name, an author, notes) is text, never markup; links are published only when they are
http(s). Every horizon's table is in the page (a selector shows one), so the site works from
``file://`` and from any static host, with no server and no fetch.

Pages: per task, the tables of ``tables.py`` with the paired win-rate matrix, the all-model drift
plot and the masked-vs-full scatter; per entry, its card, per-horizon table, drift and clip list;
per entry and clip, the preview video (truth | prediction | difference | mask), metric sparklines
and the action trajectory; per clip, every entry side by side. Downloads: one CSV and one JSON
table per task, the per-clip records as one parquet table (``datasets.load_dataset`` reads it).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pwbench import __version__, protocol
from pwbench.io import atomic_write_bytes, atomic_write_json
from pwbench.leaderboard.entries import Entry, load
from pwbench.leaderboard.figures import plot_masked_vs_full, plot_seed_noise, plot_task_drift
from pwbench.leaderboard.tables import (
    DRIFT_KEY,
    DRIFT_THRESHOLDS,
    GROUPS,
    KEYS,
    REGIONS,
    SEED_FLAG,
    SENSITIVITY_KEY,
    clip_scores,
    estimate,
    flat,
    task_tables,
)
from pwbench.results.report import plot_drift

DECIMALS = {"psnr": 2, "ssim": 3, "lpips": 3}
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS"}
SPARK_KEYS = ("lpips_full", "psnr_full", "lpips_masked")


def _records_table(entries: list[Entry], path: Path) -> bool:
    """Every per-clip, per-frame value as one long parquet table (``datasets.load_dataset`` reads it)."""
    import pandas as pd

    columns: dict[str, list] = {k: [] for k in ("entry", "model", "tier", "clip_id", "view", "metric", "region",
                                                "frame", "value")}
    for e in entries:
        for clip_id, r in (e.records or {}).items():
            for view, metrics in r.metrics.items():
                for key, values in metrics.items():
                    metric, region = key.split("_")
                    n = len(values)
                    for name, value in (("entry", e.slug), ("model", e.sub.model), ("tier", e.sub.tier),
                                        ("clip_id", clip_id), ("view", view), ("metric", metric),
                                        ("region", region)):
                        columns[name] += [value] * n
                    columns["frame"] += range(n)
                    columns["value"] += values
    if not columns["entry"]:
        return False
    buf = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return True


def csv_cell(value: Any) -> Any:
    """A submitted string as a spreadsheet will show it, not run it (``=cmd()`` is a formula)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def safe_url(url: str) -> str:
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else "#"


def sparkline(values, width: int = 180, height: int = 34) -> dict[str, Any]:
    """SVG polyline points for a small per-frame curve (numbers only, so nothing to escape)."""
    ys = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    finite = [y for y in ys if y is not None]
    if len(finite) < 2:
        return {"points": "", "lo": None, "hi": None, "width": width, "height": height}
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    step = width / max(len(ys) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (y - lo) / span * (height - 4):.1f}"
                      for i, y in enumerate(ys) if y is not None)
    return {"points": points, "lo": lo, "hi": hi, "width": width, "height": height}


def _clip_curves(entry: Entry, clip_id: str) -> dict[str, dict[str, list]]:
    """view -> metric key -> per-frame values of one clip (the sparklines)."""
    record = entry.records[clip_id]
    return {view: {k: metrics[k] for k in SPARK_KEYS if k in metrics} for view, metrics in record.metrics.items()}


def _clip_score(entry: Entry, clip_id: str, group: str, key: str) -> float | None:
    horizon = entry.records[clip_id].horizon
    value = clip_scores(entry.records, [clip_id], group, key, horizon)[0]
    return None if math.isnan(value) else float(value)


class Site:
    """One build: the jinja2 environment, the output folder and the shared page context."""

    def __init__(self, out: Path) -> None:
        import jinja2

        from leaderboard import ASSETS, TEMPLATES

        self.out = out
        self._infos: dict[Path, dict] = {}
        for sub in ("models", "clips", "media"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        shutil.copytree(ASSETS, out / "assets", dirs_exist_ok=True)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                      autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                                      undefined=jinja2.StrictUndefined)
        self.env.filters["safe_url"] = safe_url
        self.env.filters["sparkline"] = sparkline
        self.common = {"protocol_version": protocol.PROTOCOL_VERSION, "harness_version": __version__,
                       "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "regions": REGIONS,
                       "metrics": protocol.METRICS, "labels": LABELS, "decimals": DECIMALS, "groups": GROUPS,
                       "fps": protocol.FPS}

    def render(self, template: str, path: Path, root: str, **context: Any) -> None:
        page = self.env.get_template(template).render(root=root, **context, **self.common)
        atomic_write_bytes(path, page.encode())

    def downloads(self, name: str, mine: list[Entry], rows: dict) -> str | None:
        table = flat(name, rows)
        atomic_write_json(self.out / f"{name}.json", table)
        text = io.StringIO()
        if table:
            writer = csv.DictWriter(text, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in table)
        atomic_write_bytes(self.out / f"{name}.csv", text.getvalue().encode())
        return f"{name}-records.parquet" if _records_table(mine, self.out / f"{name}-records.parquet") else None

    def entry_pages(self, e: Entry, horizons: list[str]) -> None:
        drift = None
        if e.summary is not None and e.summary.clips.ok:
            plot_drift({e.sub.model: e.summary}, self.out / "models" / f"{e.slug}-drift.png")
            drift = f"{e.slug}-drift.png"
        per_horizon = {g: [(h, {k: est for k in KEYS if (est := estimate(e, h, g, k)) is not None})
                           for h in horizons] for g in GROUPS}
        clips = []
        for clip_id in sorted(e.records or {}):
            if not e.records[clip_id].ok:
                continue
            video = None
            if clip_id in e.media:
                (self.out / "media" / e.slug).mkdir(exist_ok=True)
                shutil.copyfile(e.media[clip_id], self.out / "media" / e.slug / f"{clip_id}.webm")
                video = f"media/{e.slug}/{clip_id}.webm"
            info = self._clip_info(e, clip_id)
            clips.append({"clip_id": clip_id, "video": video,
                          "lpips": _clip_score(e, clip_id, "External", "lpips_full"),
                          "spark": e.records[clip_id].metrics})
            (self.out / "models" / e.slug).mkdir(exist_ok=True)
            self.render("clip.html.j2", self.out / "models" / e.slug / f"{clip_id}.html", "../../", entry=e.sub,
                        slug=e.slug, clip_id=clip_id, video=video, curves=_clip_curves(e, clip_id), info=info,
                        scores=self._scores(e, clip_id))
        self.render("model.html.j2", self.out / "models" / f"{e.slug}.html", "../", entry=e.sub, slug=e.slug,
                    per_horizon=per_horizon, drift=drift, clips=clips)

    def _clip_info(self, e: Entry, clip_id: str) -> dict | None:
        """The clip's action trajectory (media JSON), read once per build: the entry's page and the
        cross-model page both show it."""
        path = e.media.get(clip_id)
        if path is None or not path.with_suffix(".json").is_file():
            return None
        if path not in self._infos:
            self._infos[path] = json.loads(path.with_suffix(".json").read_text())
        return self._infos[path]

    @staticmethod
    def _scores(e: Entry, clip_id: str) -> dict[str, dict[str, float | None]]:
        return {g: {k: _clip_score(e, clip_id, g, k) for k in KEYS} for g in GROUPS}

    def clip_pages(self, task: str, mine: list[Entry]) -> list[str]:
        """One cross-model page per clip: every harness entry's video, scores and curves side by side."""
        harness = [e for e in mine if e.harness]
        if not harness:
            return []
        clip_ids = sorted({c for e in harness for c, r in e.records.items() if r.ok})
        folder = self.out / "clips" / task
        folder.mkdir(parents=True, exist_ok=True)
        for clip_id in clip_ids:
            have = [e for e in harness if clip_id in e.records and e.records[clip_id].ok]
            info = next((i for e in have if (i := self._clip_info(e, clip_id))), None)
            columns = [{"entry": e.sub, "slug": e.slug, "kind": e.kind,
                        "video": f"media/{e.slug}/{clip_id}.webm" if clip_id in e.media else None,
                        "scores": self._scores(e, clip_id), "curves": _clip_curves(e, clip_id)} for e in have]
            self.render("cross_clip.html.j2", folder / f"{clip_id}.html", "../../", task=task, clip_id=clip_id,
                        columns=columns, info=info)
        self.render("clips.html.j2", folder / "index.html", "../../", task=task, clip_ids=clip_ids)
        return clip_ids


def build(submissions: str | Path, out: str | Path, official_only: bool = True) -> dict[str, Any]:
    """Render the site into ``out``; returns what was published and what was not."""
    site = Site(Path(out))
    entries, excluded = load(submissions, official_only)
    tasks = []
    for name in sorted({e.sub.task for e in entries}):
        mine = [e for e in entries if e.sub.task == name]
        tables = task_tables(mine)
        horizons = tables["horizons"]
        parquet = site.downloads(name, mine, tables["rows"])
        longest = next((h for h in reversed(horizons) if any(e.harness and h in e.summary.results for e in mine)),
                       None)
        figures = {"drift": f"{name}-drift.png" if plot_task_drift(mine, site.out / f"{name}-drift.png") else None,
                   "scatter": f"{name}-scatter.png" if longest and plot_masked_vs_full(
                       mine, longest, site.out / f"{name}-scatter.png") else None, "scatter_horizon": longest,
                   "seeds": f"{name}-seeds.png" if plot_seed_noise(mine, site.out / f"{name}-seeds.png") else None}
        for e in mine:
            site.entry_pages(e, horizons)
        clip_ids = site.clip_pages(name, mine)
        task = protocol.TASKS.get(name)
        tasks.append({"name": name, "description": task.description if task else "", "horizons": horizons,
                      "groups": GROUPS, "rows": tables["rows"], "wins": tables["wins"], "drift": tables["drift"],
                      "figures": figures, "parquet": parquet, "clips": len(clip_ids)})
    site.render("index.html.j2", site.out / "index.html", "", tasks=tasks, excluded=excluded,
                thresholds=DRIFT_THRESHOLDS, drift_key=DRIFT_KEY, sensitivity_key=SENSITIVITY_KEY, seed_flag=SEED_FLAG)
    report = {"published": [e.slug for e in entries], "excluded": excluded}
    (site.out / "build.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
