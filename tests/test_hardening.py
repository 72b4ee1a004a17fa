"""Faults a user or a disk can cause: each must be a clear, recorded condition, never a silent number."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from pwbench.cli.main import main
from pwbench.data.tasks import local_revision

HORIZON = ("--horizon", "1s")


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset, root)
    return root


def test_replacing_a_video_changes_the_revision(dataset_copy):
    before = local_revision(dataset_copy)
    video = next(dataset_copy.glob("videos/**/episode_000001.mp4"))
    other = next(dataset_copy.glob("videos/**/episode_000002.mp4"))
    shutil.copyfile(other, video)  # same metadata, different frames
    assert local_revision(dataset_copy) != before


def test_the_revision_follows_the_bytes_not_the_copy(tiny_dataset, tmp_path, monkeypatch):
    """A fresh copy (new modification times, as `cp -r` makes) keeps the revision, so validation
    seeds stay put across sessions; a file's stat unchanged means its memoised digest is reused,
    and a one-bit change that kept size and modification time is still seen."""
    from pwbench.data import file_digests

    monkeypatch.setenv("PWBENCH_EVALSET_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "plain-copy"
    shutil.copytree(tiny_dataset, copy, copy_function=shutil.copyfile)  # contents only, new mtimes
    expected = local_revision(tiny_dataset)
    reads = []
    real = file_digests.sha256_file
    monkeypatch.setattr(file_digests, "sha256_file", lambda path: reads.append(path) or real(path))
    assert local_revision(copy) == expected
    files = len(reads)
    assert local_revision(copy) == expected and len(reads) == 2 * files  # just written: too fresh to memoise
    monkeypatch.setattr(file_digests, "RACY_SECONDS", 0.0)
    revision = local_revision(copy)
    reads.clear()
    assert local_revision(copy) == revision and reads == []  # every digest came from the memo
    video = next(copy.glob("videos/**/episode_000001.mp4"))
    stamp = video.stat()
    data = bytearray(video.read_bytes())
    data[-1] ^= 1  # one bit, same size ...
    video.write_bytes(bytes(data))
    os.utime(video, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # ... and the old modification time
    assert local_revision(copy) != revision and reads == [video]


def test_the_revision_reads_a_linked_file(tiny_dataset, tmp_path, monkeypatch):
    """Files may be symlinks to elsewhere (a Hugging Face snapshot links every file into blobs/)."""
    monkeypatch.setenv("PWBENCH_EVALSET_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "linked"
    shutil.copytree(tiny_dataset, copy)
    video = next(copy.glob("videos/**/episode_000001.mp4"))
    blob = tmp_path / "blobs" / "0123abcd"
    blob.parent.mkdir()
    video.rename(blob)
    video.symlink_to(blob)
    assert local_revision(copy) == local_revision(tiny_dataset)


def test_a_dataset_without_masks_says_so(dataset_copy, tmp_path, capsys):
    info = json.loads((dataset_copy / "meta/info.json").read_text())
    del info["pwbench_masks"]
    (dataset_copy / "meta/info.json").write_text(json.dumps(info))
    out = tmp_path / "nomask"
    assert run_cli("run", "--model", "copy-last", "--data", dataset_copy, "--out", out, "--quiet", *HORIZON) == 0
    assert "has no object masks" in capsys.readouterr().err
    run = json.loads((out / "run.json").read_text())
    assert run["masks"] == "unavailable" and summary(out)["masks"] == "unavailable"
    record = json.loads((out / "clips/ep000000-s008.json").read_text())
    assert all(v is None for v in record["metrics"]["wrist_left"]["psnr_masked"])


def test_masked_fingerprint_differs_from_unmasked(tiny_dataset, dataset_copy, tmp_path):
    info = json.loads((dataset_copy / "meta/info.json").read_text())
    del info["pwbench_masks"]
    (dataset_copy / "meta/info.json").write_text(json.dumps(info))
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", a, "--quiet", *HORIZON,
                   "--revision", "r") == 0
    assert run_cli("run", "--model", "copy-last", "--data", dataset_copy, "--out", b, "--quiet", *HORIZON,
                   "--revision", "r") == 0
    assert json.loads((a / "run.json").read_text())["fingerprint"] != json.loads((b / "run.json").read_text())[
        "fingerprint"]


def test_a_foreign_record_is_refused(tiny_dataset, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", a, "--quiet", *HORIZON) == 0
    assert run_cli("run", "--model", "oracle", "--data", tiny_dataset, "--out", b, "--quiet", *HORIZON) == 0
    shutil.copyfile(b / "clips/ep000001-s008.json", a / "clips/ep000001-s008.json")
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", a, "--quiet", *HORIZON) == 2
    err = capsys.readouterr().err
    assert "ep000001-s008.json: record has model='oracle'" in err and len(err.strip().splitlines()) == 1
    assert run_cli("merge", tmp_path / "m", a) == 2


def test_an_unreadable_episode_fails_only_its_clips(dataset_copy, tmp_path):
    video = next(dataset_copy.glob("videos/**/observation.images.wrist_left/episode_000001.mp4"))
    video.write_bytes(video.read_bytes()[:200])  # truncated
    out = tmp_path / "bad"
    assert run_cli("run", "--model", "copy-last", "--data", dataset_copy, "--out", out, "--quiet", *HORIZON) == 3
    s = summary(out)
    assert s["clips"]["ok"] == 2 and [f["clip_id"] for f in s["failures"]] == ["ep000001-s008"]


def test_score_exits_3_when_predictions_are_missing(tiny_dataset, tmp_path):
    src = tmp_path / "src"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", src, "--quiet", *HORIZON,
                   "--save-predictions") == 0
    (src / "predictions/ep000002-s008.npz").unlink()
    (src / "predictions/ep000001-s008.npz").write_bytes(b"PK\x03\x04 not a zip")
    assert run_cli("score", src, "--out", tmp_path / "re") == 3
    errors = {f["clip_id"]: f["error"] for f in summary(tmp_path / "re")["failures"]}
    assert "missing prediction file" in errors["ep000002-s008"] and "unreadable" in errors["ep000001-s008"]


def test_run_files_are_world_readable_and_orphans_are_cleared(tiny_dataset, tmp_path):
    out = tmp_path / "perm"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet", *HORIZON) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "run.json").stat().st_mode) == 0o666 & ~umask  # as open() makes it, not 0600
    orphan = out / "clips" / ".ep000000-s008.json.abc123.tmp"
    orphan.write_text("{half")
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet", *HORIZON) == 0
    assert not orphan.exists()


def test_exclusions_are_counted_per_metric_and_region(tiny_dataset, tmp_path):
    out = tmp_path / "ex"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet", *HORIZON) == 0
    record = json.loads((out / "clips/ep000000-s008.json").read_text())
    assert record["schema"] == "pwbench.clip/2"
    for view, counts in record["excluded_frames"].items():
        assert set(counts) == {f"{m}_{r}" for m in ("psnr", "ssim", "lpips") for r in ("masked", "background")}
        for key, n in counts.items():
            assert n == sum(v is None for v in record["metrics"][view][key])
    assert set(summary(out)["excluded_frames"]) == set(record["excluded_frames"]["wrist_left"])


def test_an_unwritable_out_is_one_line(tiny_dataset, tmp_path, capsys):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "run"  # a path under a regular file cannot be created, even by root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "run"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet", *HORIZON) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "error:" in err


def test_old_records_are_read_in_the_current_schema(tiny_dataset, tmp_path):
    out = tmp_path / "old"
    assert run_cli("run", "--model", "copy-last", "--data", tiny_dataset, "--out", out, "--quiet", *HORIZON) == 0
    path = out / "clips/ep000000-s008.json"
    new = json.loads(path.read_text())
    old = {k: v for k, v in new.items() if k != "excluded_frames"} | {
        "schema": "pwbench.clip/1", "masked_frames_excluded": {v: 0 for v in new["metrics"]}}
    path.write_text(json.dumps(old))
    from pwbench.results.run_dir import RunDir

    assert RunDir(out).read_record("ep000000-s008").to_json() == new
