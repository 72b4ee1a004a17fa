"""Change from the last context frame (pwbench.results.motion, `pwbench motion`): the per-frame
measure by hand, the summary's means and ratio, and end to end on saved predictions of copy-last
(which never moves: ratio 0) and oracle (which is the recording: ratio 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pwbench.cli.main import main
from pwbench.results.motion import context_change, summarize_change


def cli(*args: object) -> int:
    return main([str(a) for a in args])


def test_context_change_is_the_mean_absolute_difference_in_levels():
    ctx = {"a": np.full((2, 3, 3), 200, np.uint8)}
    frames = {"a": np.stack([np.full((2, 3, 3), 190, np.uint8), np.full((2, 3, 3), 255, np.uint8)])}
    frames["a"][0, 0, 0, 0] = 0  # one channel of one pixel far off: 200 levels in 18 values
    assert context_change(ctx, frames, [1, 2]) == {"a": [pytest.approx((17 * 10 + 200) / 18), 55.0]}


def test_summary_means_over_clips_and_views_with_the_ratio():
    clips = [({"a": [1.0, 4.0], "b": [3.0, 4.0]}, {"a": [4.0, 8.0], "b": [4.0, 0.0]}),
             ({"a": [2.0, 0.0], "b": [2.0, 0.0]}, {"a": [4.0, 8.0], "b": [4.0, 0.0]})]
    out = summarize_change(clips, {"1s": 5, "2s": 10}, {"G": ("a", "b"), "A": ("a",)})
    assert out["1s"]["G"] == {"predicted": 2.0, "truth": 4.0, "ratio": 0.5, "n": 2}
    assert out["2s"]["A"] == {"predicted": 2.0, "truth": 8.0, "ratio": 0.25, "n": 2}
    still = summarize_change([({"a": [0.0]}, {"a": [0.0]})], {"1s": 5}, {"A": ("a",)})
    assert np.isnan(still["1s"]["A"]["ratio"])
    from pwbench.results.report import _motion_cell

    assert _motion_cell({"predicted": 0.0, "truth": 0.0, "ratio": None}) == "0.00 / 0.00 (n/a)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("motion-runs")
    out = {}
    for model in ("copy-last", "oracle"):
        out[model] = base / model
        assert cli("run", "--model", model, "--save-predictions", "--clips", 2, "--horizon", "2s",
                   "--out", out[model], "--quiet") == 0
    return out


def test_copy_last_stands_still_and_the_oracle_moves_as_recorded(runs, capsys):
    for model, ratio in (("copy-last", 0.0), ("oracle", 1.0)):
        before = (runs[model] / "summary.json").read_bytes()
        assert cli("motion", runs[model], "--quiet") == 0
        report = json.loads((runs[model] / "motion.json").read_text())
        run = json.loads((runs[model] / "run.json").read_text())
        assert report["schema"] == "pwbench.motion/1" and report["fingerprint"] == run["fingerprint"]
        assert report["horizons"] == ["1s", "2s"] and set(report["groups"]) == {"External", "Wrist"}
        assert report["clips"] == {"total": 2, "used": 2, "failed": 0}
        for h in ("1s", "2s"):
            for cell in report["results"][h].values():
                assert cell["truth"] > 0 and cell["ratio"] == pytest.approx(ratio) and cell["n"] == 2
        assert (runs[model] / "summary.json").read_bytes() == before  # never part of the summary
    assert "predicted / true (ratio)" in capsys.readouterr().out
    assert cli("status", runs["oracle"]) == 0
    assert "change from the last context frame" in capsys.readouterr().out


def test_status_names_a_motion_file_of_another_run_instead_of_showing_it(runs, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(runs["copy-last"], run)
    assert cli("motion", run, "--quiet") == 0
    report = json.loads((run / "motion.json").read_text())
    (run / "motion.json").write_text(json.dumps(report | {"fingerprint": "other"}))
    capsys.readouterr()
    assert cli("status", run) == 0
    out = capsys.readouterr().out
    assert "another run" in out and "pwbench motion again" in out and "predicted / true" not in out


def test_a_missing_prediction_fails_its_clip_alone(runs, tmp_path):
    run = tmp_path / "oracle-missing"
    shutil.copytree(runs["oracle"], run)
    missing = sorted((run / "predictions").glob("*.npz"))[0]
    missing.unlink()
    assert cli("motion", run, "--quiet") == 3
    report = json.loads((run / "motion.json").read_text())
    assert report["clips"] == {"total": 2, "used": 1, "failed": 1} and missing.name in report["failures"][0]["error"]
    for rest in (run / "predictions").glob("*.npz"):
        rest.unlink()
    assert cli("motion", run, "--quiet") == 3  # no clip left: every cell undefined, shown as n/a
    report = json.loads((run / "motion.json").read_text())
    assert report["results"]["1s"]["External"] == {"predicted": None, "truth": None, "ratio": None, "n": 0}
    assert cli("status", run) == 0


def test_a_run_without_predictions_is_a_one_line_error(runs, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(runs["copy-last"] / "run.json", bare / "run.json")
    assert cli("motion", bare) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--save-predictions" in err
