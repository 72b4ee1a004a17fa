"""The static site: built from checked entries, every horizon's table in the page, submitted text
escaped, downloads readable, reported rows flagged and never ranked."""

from __future__ import annotations

import json

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
