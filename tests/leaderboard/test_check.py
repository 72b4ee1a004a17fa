"""`pwbench submit` / `pwbench check`: a packaged run verifies, and each kind of tampering or
mistake is rejected with its own one-line reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pwbench.cli.main import main
from pwbench.leaderboard.check import check_entry
from pwbench.leaderboard.submission import SUBMISSION_FILE, Submission, entry_files, sha256

CLIP = "ep000000-s008"


@pytest.fixture(scope="module")
def entry(tiny_dataset, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("lb")
    run = base / "run"
    assert main(["run", "--model", "copy-last", "--data", str(tiny_dataset), "--out", str(run), "--quiet",
                 "--horizon", "1s"]) == 0
    assert main(["submit", str(run), "--out", str(base / "submissions"), "--author", "A. Tester",
                 "--link", "https://example.org/paper"]) == 0
    (folder,) = (base / "submissions" / "droid-sim").iterdir()
    return folder


@pytest.fixture()
def copy(entry, tmp_path) -> Path:
    out = tmp_path / entry.name
    shutil.copytree(entry, out)
    return out


def resign(folder: Path) -> None:
    """Recompute the hashes, as a submitter covering their tracks would."""
    sub = Submission.read(folder / SUBMISSION_FILE)
    sub.replace(files={rel: sha256(folder / rel) for rel in entry_files(folder)}).write_yaml(folder / SUBMISSION_FILE)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def test_a_packaged_run_checks_clean(entry):
    sub = Submission.read(entry / SUBMISSION_FILE)
    assert sub.tier == "verified" and sub.model == "copy-last" and "clips/" + CLIP + ".json" in sub.files
    assert check_entry(entry) == []


def test_a_tampered_metric_is_caught_by_its_hash_and_by_the_recomputed_summary(copy):
    edit_json(copy / f"clips/{CLIP}.json", lambda d: d["metrics"]["wrist_left"]["lpips_full"].__setitem__(0, 0.0))
    changed = f"{copy}/clips/{CLIP}.json: sha256 differs from submission.yaml (the file was changed)"
    assert check_entry(copy) == [changed]
    resign(copy)
    (problem,) = check_entry(copy)
    assert "differs from the summary recomputed from the records (fields curves, results)" in problem


def test_a_missing_clip(copy):
    (copy / f"clips/{CLIP}.json").unlink()
    assert check_entry(copy) == [f"{copy}: clips/{CLIP}.json is listed in submission.yaml but missing"]
    resign(copy)
    assert check_entry(copy) == [f"{copy}: clip {CLIP} of the manifest has no record"]


def test_a_duplicated_clip(copy):
    shutil.copyfile(copy / f"clips/{CLIP}.json", copy / f"clips/{CLIP}-copy.json")
    assert check_entry(copy) == [f"{copy}: clips/{CLIP}-copy.json is not listed in submission.yaml "
                                 "(an extra or duplicated file)"]
    resign(copy)
    assert check_entry(copy) == [f"{copy}/clips/{CLIP}-copy.json: not a clip of the manifest"]


def test_a_wrong_fingerprint(copy):
    edit_json(copy / "run.json", lambda d: d.update(fingerprint="0" * 64))
    resign(copy)
    problems = check_entry(copy)
    assert any("fingerprint 000000000000 is not what protocol" in p for p in problems)


def test_a_malformed_yaml_and_a_claimed_tier(copy):
    text = (copy / SUBMISSION_FILE).read_text()
    (copy / SUBMISSION_FILE).write_text(text.replace("tier: verified", "tier: verified\n  - oops: ["))
    (problem,) = check_entry(copy)
    assert problem.startswith(f"{copy}/{SUBMISSION_FILE}: unreadable (")
    (copy / SUBMISSION_FILE).write_text(text.replace("tier: verified", "tier: scored"))
    (problem,) = check_entry(copy)
    assert "origin 'run' makes a verified entry, the submission claims 'scored'" in problem


def test_a_summary_that_disagrees_with_its_records(copy):
    edit_json(copy / "summary.json", lambda d: d["clips"].update(ok=99))
    resign(copy)
    (problem,) = check_entry(copy)
    assert problem.endswith("(fields clips)")


def test_the_cli_flags_runs_off_the_official_eval_set(entry, capsys):
    assert main(["check", str(entry.parent)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "not the official droid-sim eval set" in out and "0/1 entries ok" in out


def test_links_must_be_http_and_reported_entries_carry_numbers(copy):
    text = (copy / SUBMISSION_FILE).read_text()
    (copy / SUBMISSION_FILE).write_text(text.replace("https://example.org/paper", "javascript:alert(1)"))
    (problem,) = check_entry(copy)
    assert "links must be http(s) URLs" in problem
    reported = copy.parent / "reported"
    reported.mkdir()
    Submission(model="PersistWorld", task="droid", tier="reported", authors=("the paper",), date="2026-03-26",
               harness_version="-", citation="arXiv 2603.25685",
               reported={"11s": {"External": {"lpips_full": 0.2}}}).write_yaml(reported / SUBMISSION_FILE)
    assert check_entry(reported) == []
    with pytest.raises(Exception, match="needs its citation"):
        Submission(model="x", task="droid", tier="reported", authors=(), date="d", harness_version="-")


@pytest.fixture()
def with_companion(site, tmp_path) -> Path:
    """The site's darkened entry: packaged with its shuffled-action run and clip previews."""
    (entry,) = (site.parent / "submissions" / "droid-sim").glob("darkened-*")
    out = tmp_path / entry.name
    shutil.copytree(entry, out)
    return out


def test_an_entry_with_its_shuffled_run_and_previews_checks_clean(with_companion):
    files = Submission.read(with_companion / SUBMISSION_FILE).files
    assert f"shuffled/clips/{CLIP}.json" in files and f"media/{CLIP}.webm" in files and f"media/{CLIP}.json" in files
    assert check_entry(with_companion) == []


def test_a_companion_that_is_not_the_shuffled_twin_is_rejected(with_companion):
    edit_json(with_companion / "shuffled/run.json", lambda d: d.update(actions="true"))
    resign(with_companion)
    (problem,) = check_entry(with_companion)
    assert problem.endswith("actions 'true'; the action-sensitivity companion is a shuffled-action run")


def test_a_companion_of_another_model_is_rejected(with_companion):
    edit_json(with_companion / "shuffled/model.json", lambda d: d.update(variant="other weights"))
    resign(with_companion)
    (problem,) = check_entry(with_companion)
    assert "another model (options or weights) than the true-action run's" in problem


def test_media_must_belong_to_manifest_clips(with_companion):
    shutil.copyfile(with_companion / f"media/{CLIP}.webm", with_companion / "media/ep999999-s008.webm")
    (with_companion / "media/notes.html").write_text("<script>alert(1)</script>")
    resign(with_companion)
    problems = check_entry(with_companion)
    assert len(problems) == 2 and all("not a preview (.webm / .json) of a manifest clip" in p for p in problems)


def test_seed_runs_are_packaged_under_their_seed_and_checked(with_companion):
    files = Submission.read(with_companion / SUBMISSION_FILE).files
    assert f"seeds/1/clips/{CLIP}.json" in files and "seeds/2/summary.json" in files
    seed_run = json.loads((with_companion / "seeds/1/run.json").read_text())
    assert seed_run["seed"] == 1 and len(seed_run["clips"]) == 2


def test_a_seed_run_in_the_wrong_folder_or_reusing_a_seed_is_rejected(with_companion):
    (with_companion / "seeds/2").rename(with_companion / "seeds/7")
    resign(with_companion)
    (problem,) = check_entry(with_companion)
    assert problem.endswith("seeds/7/run.json: seed 2 in a folder named 7")
    edit_json(with_companion / "seeds/7/run.json", lambda d: d.update(seed=1))
    resign(with_companion)
    (problem,) = check_entry(with_companion)
    assert "seed 1 is already used by the main run or another seed run" in problem


def test_a_seed_run_on_other_clips_or_of_another_model_is_rejected(with_companion):
    edit_json(with_companion / "seeds/1/run.json", lambda d: d["clips"][0].update(start_frame=99))
    resign(with_companion)
    problems = check_entry(with_companion)
    assert any("its clips are not a subset of the main run's" in p for p in problems)
    shutil.copytree(with_companion / "seeds/2", with_companion / "seeds/1", dirs_exist_ok=True)
    edit_json(with_companion / "seeds/1/run.json", lambda d: d.update(seed=1))
    edit_json(with_companion / "seeds/1/model.json", lambda d: d.update(variant="other weights"))
    resign(with_companion)
    (problem,) = check_entry(with_companion)
    assert "seeds/1/model.json: another model (options or weights) than the main run's" in problem


def test_submit_refuses_a_shuffled_run_as_a_seed_run(site, tmp_path):
    from pwbench.leaderboard.submission import package

    with pytest.raises(Exception, match="a seed-noise run uses true actions"):
        package(site.parent / "run-darkened", tmp_path, ["A. Tester"], seeds=[site.parent / "run-darkened-shuffled"],
                media=False, progress=False)
    assert not any(tmp_path.rglob(SUBMISSION_FILE))


def test_submit_refuses_a_companion_with_true_actions(site, tmp_path):
    run = site.parent / "run-darkened"
    with pytest.raises(Exception, match="companion is a shuffled-action run"):
        from pwbench.leaderboard.submission import package

        package(run, tmp_path, ["A. Tester"], shuffled=run, media=False, progress=False)
    assert not any(tmp_path.rglob(SUBMISSION_FILE))


def test_the_benchmarks_synthetic_runs_package_and_check_clean(tmp_path):
    from pwbench.leaderboard.submission import package
    from pwbench.testing import synthetic_run

    run = synthetic_run(tmp_path / "run", "made-up", clips=3, horizon=10)
    folder = package(run, tmp_path / "submissions", ["bench"], media=False, progress=False)
    assert check_entry(folder) == []
