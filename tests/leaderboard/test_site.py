"""The static site: built from checked entries, every horizon's table in the page, submitted text
escaped, downloads readable, reported rows flagged and never ranked."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

XSS = "<script>alert(1)</script>"  # what tests/leaderboard/conftest.py submits as author and notes


def test_the_index_has_every_horizon_and_the_ranked_and_reported_rows(site):
    html = (site / "index.html").read_text()
    assert 'data-horizon="1s"' in html and 'data-horizon="2s"' in html
    assert "darkened" in html and "copy-last" in html and 'class="reported"' in html
    build = json.loads((site / "build.json").read_text())
    assert len(build["published"]) == 3 and build["excluded"] == []


def test_submitted_text_is_escaped(site):
    pages = [p.read_text() for p in (site / "models").glob("*.html")]
    assert pages and all(XSS not in p for p in pages)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in p for p in pages)
    assert all("<b>bold</b>" not in p for p in [*pages, (site / "index.html").read_text()])


def test_downloads_are_tables(site):
    rows = json.loads((site / "droid-sim.json").read_text())
    ranked = {r["model"]: r["rank"] for r in rows if r["group"] == "External" and r["metric"] == "lpips"}
    assert ranked["darkened"] == 1 and ranked["copy-last"] is None  # calibration rows are not ranked
    csv = pd.read_csv(site / "droid-sim.csv")
    assert set(csv["horizon"]) == {"1s", "2s"} and len(csv) == len(rows)
    records = pd.read_parquet(site / "droid-sim-records.parquet")
    assert set(records["model"]) == {"copy-last", "darkened"} and records["frame"].max() == 9
    droid = json.loads((site / "droid.json").read_text())
    assert droid == [{"task": "droid", "entry": "droid-persistworld-paper", "model": "PersistWorld", "variant": "",
                      "tier": "reported", "horizon": "11s", "group": "External", "metric": "lpips",
                      "region": "full", "mean": 0.2, "ci_low": None, "ci_high": None, "n": None, "rank": None}]


def test_skill_vs_copy_last_is_shown_for_the_model(site):
    html = (site / "index.html").read_text()
    assert html.count("skill vs copy-last") >= 2


def test_csv_cells_cannot_be_formulas():
    from pwbench.leaderboard.site import csv_cell

    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert csv_cell("ctrl-world") == "ctrl-world" and csv_cell(0.5) == 0.5 and csv_cell("-x") == "'-x"


def test_paired_columns_win_matrix_and_drift_summary(site):
    from pwbench.leaderboard.entries import load
    from pwbench.leaderboard.tables import task_tables

    entries, _ = load(site.parent / "submissions", official_only=False)
    tables = task_tables([e for e in entries if e.sub.task == "droid-sim"])
    rows = {r["model"]: r for r in tables["rows"]["2s"]["External"]}
    assert rows["darkened"]["sensitivity"]["n"] == 3 and rows["copy-last"]["sensitivity"] is None
    assert rows["darkened"]["skill"]["mean"] > 0  # darkening the last frame is worse than copying it
    wins = tables["wins"]["2s"]["External"]
    by_name = dict(zip([n.split(" ")[0] for n in wins["names"]], wins["cells"], strict=True))
    assert by_name["copy-last"][1]["win"] + by_name["darkened"][0]["win"] == 1.0
    (e, stats), _ = tables["drift"]["External"]
    assert stats["seconds"] == 2.0 and stats["auc"] > 0 and set(stats["crossings"]) == {0.1, 0.2, 0.3}
    html = (site / "index.html").read_text()
    assert "Paired win rate" in html and "action sensitivity" in html and "area under the drift curve" in html
    assert (site / "droid-sim-drift.png").stat().st_size > 10_000 and (site / "droid-sim-scatter.png").is_file()


def test_clip_pages_with_previews_and_a_cross_model_page(site):
    page = next((site / "models").glob("droid-sim-darkened-*/ep000000-s008.html")).read_text()
    assert "<video" in page and "<svg class=\"spark\"" in page and "Actions" in page
    cross = (site / "clips" / "droid-sim" / "ep000000-s008.html").read_text()
    assert cross.count("<video") == 2 and "darkened" in cross and "copy-last" in cross
    videos = list((site / "media").rglob("*.webm"))
    assert len(videos) == 6 and all(v.stat().st_size > 1000 for v in videos)


def test_a_preview_is_truth_prediction_difference_and_mask():
    import numpy as np

    from pwbench.data.evalset import Clip
    from pwbench.data.lerobot import Episode
    from pwbench.leaderboard.media import SCALE, preview_frames

    h, w = 8, 12
    gt = np.full((4, h, w, 3), 100, np.uint8)
    masks = np.zeros((4, h, w), bool)
    masks[:, :2, :2] = True
    episode = Episode(0, "", {"v": gt}, np.zeros((4, 7), np.float32), np.zeros((4, 7), np.float32), {"v": masks})
    pred = {"v": np.full((3, h, w, 3), 110, np.uint8)}
    frames = preview_frames(Clip("c", episode, 0), pred, 3)
    assert frames.shape == (3, h // SCALE, 4 * w // SCALE, 3)
    panel = w // SCALE
    assert (frames[:, :, :panel] == 100).all() and (frames[:, :, panel:2 * panel] == 110).all()
    assert (frames[:, :, 2 * panel:3 * panel] == 30).all()  # |110 - 100| x DIFF_GAIN
    assert frames[0, 0, 3 * panel, 0] > frames[0, -1, -1, 0]  # the mask is tinted, the rest dimmed


def _record(clip_id: str, lpips: float, frames: int = 4):
    from pwbench import protocol
    from pwbench.results.schema import METRIC_KEYS, ClipRecord

    metrics = {v: {k: (lpips if k == "lpips_full" else 0.5,) * frames for k in METRIC_KEYS} for v in protocol.VIEWS}
    return ClipRecord(fingerprint="f", clip_id=clip_id, model="m", horizon=frames, status="ok", metrics=metrics,
                      mask_coverage={v: (0.1,) * frames for v in protocol.VIEWS},
                      excluded_frames={v: {k: 0 for k in METRIC_KEYS} for v in protocol.VIEWS})


def test_seed_noise_is_the_per_clip_seed_variance_scaled_to_the_mean_over_all_clips():
    import math

    from pwbench.leaderboard.entries import Entry
    from pwbench.leaderboard.tables import _seed_flags, seed_noise

    main = {c: _record(c, v) for c, v in zip("abcd", (0.10, 0.20, 0.30, 0.40), strict=True)}
    entry = Entry(folder=None, slug="m", sub=None, records=main, seed=0,
                  seeds={1: {"a": _record("a", 0.12), "b": _record("b", 0.16)}})
    noise = seed_noise(entry, "External", "lpips_full", 4)
    # per-clip variances over the two seeds (ddof 1): a 0.02**2 / 2, b 0.04**2 / 2; mean over clips / 4 clips
    assert math.isclose(noise["sd"], math.sqrt((0.02**2 / 2 + 0.04**2 / 2) / 2 / 4))
    assert noise["seeds"] == 2 and noise["clips"] == 2 and noise["n"] == 4
    assert math.isclose(noise["subset_means"][1], 0.14) and math.isclose(noise["subset_means"][0], 0.15)
    rows = [{"rank": 1, "scores": {"lpips_full": {"mean": 0.20}}, "seed_noise": None, "within_seed_noise": False},
            {"rank": 2, "scores": {"lpips_full": {"mean": 0.20 + 1.9 * noise["sd"]}}, "seed_noise": noise,
             "within_seed_noise": False},
            {"rank": 3, "scores": {"lpips_full": {"mean": 0.20 + 4.0 * noise["sd"]}}, "seed_noise": noise,
             "within_seed_noise": False}]
    _seed_flags(rows)
    # 1.9 SD below the row ranked above (one noisy mean): flagged; the third is 2.1 SD below the second,
    # but both are noisy, so its gap's SD is sqrt(2) SD: 2.1 / 1.41 < 2, flagged as well
    assert [r["within_seed_noise"] for r in rows] == [False, True, True]
    rows[2]["scores"]["lpips_full"]["mean"] = 0.20 + 1.9 * noise["sd"] + 3.0 * noise["sd"]
    _seed_flags(rows)
    assert [r["within_seed_noise"] for r in rows] == [False, True, False]


def test_the_seed_noise_column_and_figure(site):
    html = (site / "index.html").read_text()
    assert "seed noise" in html and 'title="3 seeds × 2 clips"' in html
    assert (site / "droid-sim-seeds.png").stat().st_size > 10_000


def test_a_preview_video_is_byte_identical_when_made_again(tmp_path):
    from pwbench.leaderboard.media import write_webm

    frames = np.random.default_rng(0).integers(0, 256, (6, 48, 64, 3), dtype=np.uint8)
    write_webm(frames, tmp_path / "a.webm")
    write_webm(frames, tmp_path / "b.webm")
    assert (tmp_path / "a.webm").read_bytes() == (tmp_path / "b.webm").read_bytes()
