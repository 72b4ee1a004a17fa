"""End to end through the CLI on a dataset built by the test: run, score, status, resume, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pwbench.cli.main import main
from pwbench.models import registry

TESTS = Path(__file__).parent


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def values(s: dict, key: str, kind: str = "up_to") -> dict[str, float]:
    return {h: s["results"][h]["External"][key][kind]["mean"] for h in s["results"]}


@pytest.fixture(scope="module")
def oracle_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "oracle"
    assert run_cli("run", "--model", "oracle", "--data", tiny_dataset, "--out", out, "--quiet") == 0
    return out


@pytest.fixture(scope="module")
def copy_last_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "copy-last"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet",
                   "--save-predictions") == 0
    return out


def test_oracle_scores_perfect(oracle_run):
    s = summary(oracle_run)
    assert s["clips"] == {"total": 3, "ok": 3, "failed": 0, "missing": 0}
    assert s["horizons"] == ["1s", "2s", "4s", "8s", "11s"] and set(s["results"]) == set(s["horizons"])
    for horizon in s["results"].values():
        for group in ("External", "Wrist", "wrist_left"):
            for kind in ("up_to", "at"):
                for region in ("full", "masked", "background"):
                    assert horizon[group][f"psnr_{region}"][kind]["mean"] == 100.0
                    assert horizon[group][f"ssim_{region}"][kind]["mean"] == pytest.approx(1.0, abs=1e-6)
                    assert horizon[group][f"lpips_{region}"][kind]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert (oracle_run / "drift.png").is_file()


def test_copy_last_is_worse_and_drifts(copy_last_run):
    s = summary(copy_last_run)
    lpips = values(s, "lpips_full")
    psnr = values(s, "psnr_full")
    assert all(math.isfinite(v) for v in lpips.values())
    assert 0 < lpips["1s"] < lpips["4s"] < lpips["11s"]
    assert psnr["1s"] > psnr["11s"] and psnr["11s"] < 100
    assert values(s, "lpips_masked")["11s"] > values(s, "lpips_background")["11s"]  # only the objects move
    assert s["cost"]["frames"] == 3 * 56 and s["cost"]["device"] == "cpu"


def test_score_rescores_saved_predictions(copy_last_run, tmp_path):
    out = tmp_path / "rescored"
    assert run_cli("score", copy_last_run, "--out", out) == 0
    for record in (copy_last_run / "clips").glob("*.json"):
        assert (out / "clips" / record.name).read_bytes() == record.read_bytes()


def test_status(copy_last_run, capsys):
    assert run_cli("status", copy_last_run) == 0
    assert "done 3/3 · failed 0" in capsys.readouterr().out


def test_rerun_skips_finished_clips(copy_last_run, tiny_dataset, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a finished run must not build its model again")

    monkeypatch.setattr("pwbench.runner.build_model", refuse)
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", copy_last_run,
                   "--quiet", "--save-predictions") == 0


def test_refuses_to_mix_runs(copy_last_run, tiny_dataset, capsys):
    assert run_cli("run", "--model", "oracle", "--data", tiny_dataset, "--out", copy_last_run, "--quiet") == 2
    assert "refusing to mix" in capsys.readouterr().err
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--clips", "2",
                   "--out", copy_last_run, "--quiet") == 2
    assert "fingerprint" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (("--model", "copylast"), "unknown model 'copylast'; did you mean 'copy-last'?"),
    (("--model", "oracle", "--horizon", "soon"), "horizon 'soon'"),
    (("--model", "oracle", "--task", "droid-sm"), "did you mean 'droid-sim'"),
    (("--model", "oracle", "--data", "/no/such/dir"), "no such folder"),
    (("--model", "oracle", "--episodes", "5"), "--episodes must be A:B"),
    (("--model", "oracle", "--episodes", "7:9"), "no eligible episode"),
    (("--model", "copy-last", "--option", "foo=1"), "model 'copy-last' takes no options"),
    (("--model", "ctrl-world", "--option", "num_step=10"), "no option 'num_step'; did you mean 'num_steps'?"),
    (("--model", "ctrl-world", "--option", "num_steps=many"), "num_steps='many' is not a valid int"),
    (("--model", "raising"), "model 'raising' could not be built: RuntimeError: weights corrupted"),
])
def test_user_errors_are_one_line(tiny_dataset, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setitem(registry.BUILTIN, "raising", "plugin_models:build_raising")
    data = () if "--data" in args else ("--data", tiny_dataset)
    assert run_cli("run", *args, *data, "--out", tmp_path / "x", "--quiet") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "run.json").exists()  # the corrected command is not refused


def test_resume_refuses_other_options(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry.BUILTIN, "bad", "plugin_models:build_bad")
    out = tmp_path / "opts"
    common = ("run", "--model", "bad", "--data", tiny_dataset, "--out", out, "--quiet", "--horizon", "1s")
    assert run_cli(*common, "--option", "mode=nan", "--option", "clips=ep000001-s008") == 3
    run = json.loads((out / "run.json").read_text())
    assert run["model_options"] == {"mode": "nan", "clips": "ep000001-s008"}
    assert run_cli(*common, "--option", "mode=shape", "--option", "clips=ep000001-s008") == 2
    assert "model_options" in capsys.readouterr().err
    # the resolved options are compared: spelling out a default is the same run as leaving it out
    other = [a if a != out else tmp_path / "opts2" for a in common]
    assert run_cli(*other, "--option", "mode=shape", "--option", "clips=ep000001-s008") == 3
    assert run_cli(*other, "--option", "clips=ep000001-s008") == 3


def test_failed_clips_are_recorded_and_the_run_goes_on(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry.BUILTIN, "bad", "plugin_models:build_bad")
    out = tmp_path / "bad"
    code = run_cli("run", "--model", "bad", "--data", tiny_dataset, "--out", out, "--quiet", "--horizon", "2s",
                   "--option", "mode=nan", "--option", "clips=ep000001-s008")
    assert code == 3
    s = summary(out)
    assert s["clips"] == {"total": 3, "ok": 2, "failed": 1, "missing": 0}
    assert s["failures"][0]["clip_id"] == "ep000001-s008"
    assert "NaN or inf" in s["failures"][0]["error"]
    assert "ep000001-s008" in capsys.readouterr().out


def test_episodes_too_short_for_the_horizon_are_not_eligible(tiny_dataset, tmp_path, capsys):
    """The eval-set rule takes only episodes with s0 + the run's horizon: 67 frames hold 11 s, not 12 s."""
    out = tmp_path / "long"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet",
                   "--horizon", "12s") == 2
    assert "no episode has the 69 frames at 5 Hz" in capsys.readouterr().err and not out.exists()


SLOW_RUN = """
import sys, time
sys.path.insert(0, {tests!r})
from pwbench.models import registry
registry.BUILTIN["slow"] = "plugin_models:build_slow"
from pwbench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _start(args: list[str], env: dict) -> subprocess.Popen:
    code = SLOW_RUN.format(tests=str(TESTS))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_then_resume_is_byte_identical(tiny_dataset, tmp_path):
    env = dict(os.environ, PWBENCH_SLOW_SECONDS="0.3")
    args = ["run", "--model", "slow", "--data", tiny_dataset, "--quiet", "--horizon", "4s"]
    full = tmp_path / "full"
    assert _start([*args, "--out", full], env).wait(timeout=300) == 0
    killed = tmp_path / "killed"
    proc = _start([*args, "--out", killed], env)
    deadline = time.time() + 240
    while not list((killed / "clips").glob("*.json")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((killed / "clips").glob("*.json")))
    assert 1 <= done_before < 3, "the kill should land mid-run"
    assert _start([*args, "--out", killed], env).wait(timeout=300) == 0
    names = sorted(p.name for p in (full / "clips").glob("*.json"))
    assert names == sorted(p.name for p in (killed / "clips").glob("*.json"))
    for name in names:
        assert (killed / "clips" / name).read_bytes() == (full / "clips" / name).read_bytes()
    assert not list(killed.rglob("*.tmp"))


def test_compare_pairs_runs(oracle_run, copy_last_run, tmp_path, capsys):
    assert run_cli("compare", oracle_run, copy_last_run, "--out", tmp_path) == 0
    result = json.loads((tmp_path / "comparison.json").read_text())
    rows = {(r["horizon"], r["group"], r["key"]): r for r in result["rows"]}
    row = rows[("11s", "External", "lpips_full")]
    assert row["n"] == 3 and row["win_rate"] == 1.0 and row["mean_difference"] < 0
    assert (tmp_path / "drift.png").is_file()
    assert "oracle vs copy-last" in capsys.readouterr().out


def test_shuffled_actions_copy_last_has_no_action_sensitivity(copy_last_run, tiny_dataset, tmp_path, capsys):
    shuffled = tmp_path / "shuffled"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", shuffled, "--quiet",
                   "--actions", "shuffled") == 0
    run = json.loads((shuffled / "run.json").read_text())
    assert run["actions"] == "shuffled" and all(k != v for k, v in run["action_donors"].items())
    assert summary(shuffled)["actions"] == "shuffled"
    assert "shuffled actions" in capsys.readouterr().out
    assert run_cli("compare", copy_last_run, shuffled, "--out", tmp_path / "cmp") == 0
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert result["action_sensitivity"] and result["actions"] == ["true", "shuffled"]
    assert all(r["mean_difference"] == 0 for r in result["rows"] if r["n"])  # copy-last ignores actions
    assert "action sensitivity of copy-last" in capsys.readouterr().out
    # the regime is part of the folder's identity: true actions never land in a shuffled folder
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", shuffled, "--quiet") == 2
    assert "actions='shuffled'" in capsys.readouterr().err


def test_the_seed_is_part_of_the_run_folders_identity(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "seed3"
    common = ["--model", "copy-last", "--data", tiny_dataset, "--horizon", "1s", "--clips", "1", "--quiet"]
    assert run_cli("run", *common, "--out", out, "--seed", "3") == 0
    assert json.loads((out / "run.json").read_text())["seed"] == 3
    assert run_cli("run", *common, "--out", out) == 2  # seed 0 never lands in a seed-3 folder
    assert "seed=3" in capsys.readouterr().err
    assert run_cli("run", *common, "--seed", "-1") == 2
    assert "--seed must be 0 or more" in capsys.readouterr().err
    from pwbench.runner import RunConfig

    assert RunConfig(model="m", seed=2).out_dir().name == "droid-sim-m-11s-seed2"


def test_episode_range_selects_validation_clips(tiny_dataset, tmp_path):
    out = tmp_path / "val"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--episodes", "1:3", "--out", out,
                   "--horizon", "1s", "--quiet") == 0
    assert [c["episode_index"] for c in json.loads((out / "run.json").read_text())["clips"]] == [1, 2]
