"""Real DROID's three layouts, end to end, on mirrors built from droid-sim episodes
(tests/droid_mirrors.py): identical frames and metrics, the Hub path under HF_HUB_OFFLINE=1,
the pinned manifest, and each failure the issue lists (fps, truncation, masks, source id)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from droid_mirrors import COMMIT, hub_cache, make_ctrl_world, make_v21, make_v30, write_lossless

from pwbench import protocol
from pwbench.cli.main import main
from pwbench.data.sources import open_folder
from pwbench.errors import DatasetError

DROID = protocol.TASKS["droid"]


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("droid-mirrors")
    return {"lerobot-v2.1": make_v21(base / "v21"), "lerobot-v3.0": make_v30(base / "v30"),
            "ctrl-world": make_ctrl_world(base / "ctrl-world")}


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A pre-populated Hugging Face cache in tmp_path/hf, offline."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("PWBENCH_CACHE", str(tmp_path / "pwbench"))
    monkeypatch.setenv("PWBENCH_EVALSET_CACHE", str(tmp_path / "pwbench" / "evalsets"))  # nothing decoded yet
    return tmp_path / "hf"


def cli(*args) -> int:
    return main([str(a) for a in args])


def test_every_layout_is_detected_and_decodes_to_the_same_frames(mirrors):
    episodes = {}
    for layout, root in mirrors.items():
        source = open_folder(root)
        assert source.layout == layout and source.dataset_id == f"local:{layout}"
        assert source.episode_indices == [99, 100, 199] and source.length_5hz(99) == 16
        episodes[layout] = source.load_episode(199, DROID.resolution, 16, with_masks=False)
    ref = episodes["lerobot-v2.1"]
    assert ref.frames["wrist_left"].shape == (16, 192, 320, 3)
    for layout, ep in episodes.items():
        for view in protocol.VIEWS:
            assert np.array_equal(ep.frames[view], ref.frames[view]), (layout, view)
        assert np.array_equal(ep.state, ref.state) and np.array_equal(ep.joints, ref.joints), layout
        assert ep.instruction == ref.instruction, layout


def test_prepare_and_copy_last_end_to_end_on_each_layout(mirrors, hub, tmp_path, capsys):
    """v2.1 and v3.0 come from the (offline) Hub cache, Ctrl-World's layout from a folder; the
    three give identical per-clip metrics (the fingerprints differ: each source is its own id)."""
    results, fingerprints = {}, set()
    for layout, repo in [("lerobot-v2.1", "cadene/droid_1.0.1"), ("lerobot-v3.0", "lerobot/droid_1.0.1"),
                         ("ctrl-world", None)]:
        if repo:
            hub_cache(mirrors[layout], hub, repo)
            data = [] if repo == "cadene/droid_1.0.1" else ["--data", f"hf:{repo}"]  # cadene: droid's default
        else:
            data = ["--data", mirrors[layout]]
        assert cli("data", "prepare", "--task", "droid", *data, "--horizon", "1s", "--quiet") == 0, layout
        said = capsys.readouterr().out
        assert "2 clips (droid-val-v1" in said and "no object masks" in said, said
        out = tmp_path / layout
        assert cli("run", "--task", "droid", "--model", "copy-last", *data, "--horizon", "1s", "--quiet",
                   "--clips", "1", "--out", out) == 0, layout
        run = json.loads((out / "run.json").read_text())
        assert run["dataset"]["source"]["layout"] == layout
        assert run["dataset"]["dataset_id"] == (repo or "local:ctrl-world")
        if repo:
            assert run["dataset"]["revision"] == COMMIT and run["dataset"]["source"]["commit"] == COMMIT
        assert [c["clip_id"] for c in run["clips"]] == ["ep000099-s008"]
        fingerprints.add(run["fingerprint"])
        results[layout] = {p.stem: json.loads(p.read_text())["metrics"] for p in sorted((out / "clips").glob("*.json"))}
    assert len(fingerprints) == 3
    assert results["lerobot-v3.0"] == results["lerobot-v2.1"] == results["ctrl-world"]
    copy_last = json.loads((tmp_path / "ctrl-world" / "summary.json").read_text())["results"]["1s"]
    assert copy_last["External"]["lpips_full"]["up_to"]["mean"] > 0.01  # the clips move: not trivially equal


# --- each failure is a clear error naming episode and file, and fails that clip only ----------

@pytest.fixture
def v21(mirrors, tmp_path) -> Path:
    root = tmp_path / "v21"
    shutil.copytree(mirrors["lerobot-v2.1"], root)
    return root


def _video(root: Path, index: int, view: str = "exterior_1_left") -> Path:
    return root / f"videos/chunk-000/{protocol.VIDEO_KEY_PREFIX}{view}/episode_{index:06d}.mp4"


def test_a_video_at_another_frame_rate_fails_its_clip(v21, tmp_path):
    """A 5 Hz mp4 behind a 15 Hz table was read at the wrong rate, silently."""
    from pwbench.data.video import decode_frames

    frames = decode_frames(_video(v21, 99), list(range(0, 46, 3)))
    write_lossless(_video(v21, 99), frames, 5)
    with pytest.raises(DatasetError, match=r"episode 99 exterior_1_left: .*episode_000099.mp4: video is 5 fps, "
                                           r"the table says 15 fps"):
        open_folder(v21).load_episode(99, DROID.resolution, 14)
    out = tmp_path / "run"
    assert cli("run", "--task", "droid", "--model", "copy-last", "--data", v21, "--horizon", "1s", "--quiet",
               "--out", out) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"]["ok"] == 1 and [f["clip_id"] for f in summary["failures"]] == ["ep000099-s008"]
    assert "5 fps" in summary["failures"][0]["error"]


def test_frame_count_and_timestamps_are_checked_against_the_table(v21):
    import pandas as pd

    path = v21 / "data/chunk-000/episode_000199.parquet"
    table = pd.read_parquet(path)
    table.loc[20:, "timestamp"] += 1 / 15  # a frame dropped from the table's clock
    table.to_parquet(path)
    with pytest.raises(DatasetError, match=r"episode 199 .*frame 20 of the table \(t = 1.4000 s\) does not match "
                                           r"the video \(next frame at t = 1.3333 s"):
        open_folder(v21).load_episode(199, DROID.resolution, 14, with_masks=False)
    (v21 / "meta/episodes.jsonl").write_text((v21 / "meta/episodes.jsonl").read_text().replace(
        '"length": 46}', '"length": 40}'))
    table = pd.read_parquet(v21 / "data/chunk-000/episode_000100.parquet").iloc[:40]
    table.to_parquet(v21 / "data/chunk-000/episode_000100.parquet")
    with pytest.raises(DatasetError, match=r"episode 100 exterior_1_left: .* video has 46 frames, the table has 40"):
        open_folder(v21).load_episode(100, DROID.resolution, 13, with_masks=False)


def test_a_truncated_video_fails_its_clip_not_the_run(v21, tmp_path):
    video = _video(v21, 199, "wrist_left")
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    out = tmp_path / "run"
    assert cli("run", "--task", "droid", "--model", "copy-last", "--data", v21, "--horizon", "1s", "--quiet",
               "--out", out) == 3
    failures = json.loads((out / "summary.json").read_text())["failures"]
    assert [f["clip_id"] for f in failures] == ["ep000199-s008"] and "episode_000199.mp4" in failures[0]["error"]


def test_eligibility_follows_the_horizon_and_needs_every_video(v21):
    from pwbench.data.evalset import select_clips

    source = open_folder(v21)
    assert [c["episode_index"] for c in select_clips(DROID, source, "r", min_future=5)["clips"]] == [99, 199]
    with pytest.raises(DatasetError, match="no episode has the 65 frames at 5 Hz and all 3 videos"):
        select_clips(DROID, source, "r", min_future=56)
    _video(v21, 199, "wrist_left").unlink()
    manifest = select_clips(DROID, open_folder(v21), "r", min_future=5)
    assert [c["episode_index"] for c in manifest["clips"]] == [99]
    assert manifest["rule"] == "droid-val-v1" and manifest["masks"] == "unavailable"


def test_the_manifest_is_pinned_and_a_changed_folder_is_refused(v21, capsys):
    args = ["data", "prepare", "--task", "droid", "--data", v21, "--horizon", "1s", "--quiet"]
    assert cli(*args) == 0
    assert cli(*args) == 0  # verified, unchanged
    video = _video(v21, 99)
    video.write_bytes(video.read_bytes())  # same bytes, new modification time: the same revision
    assert cli(*args) == 0
    (video.parent / "notes.txt").write_text("a file more: other bytes, another revision")
    capsys.readouterr()
    assert cli(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "the dataset changed since its eval-set manifest was written (content_revision" in err
    assert "earlier pwbench" not in err
    assert cli(*args, "--new-manifest") == 0
    from pwbench.data.pinned import pin_path

    pin = pin_path(DROID, v21, 5)  # the 1 s horizon's 5 frames
    old = json.loads(pin.read_text()) | {"pin_version": 1, "content_revision": "local-0123456789abcdef"}
    pin.write_text(json.dumps(old))  # pinned before revisions followed the bytes
    assert cli(*args) == 2
    assert "an earlier pwbench whose local revisions hashed file sizes and times" in capsys.readouterr().err


def test_the_pinned_frames_digest_refuses_other_frames(tmp_path):
    from pwbench.data.pinned import check_frames

    pin = tmp_path / "pin.json"
    pin.write_text(json.dumps({"clips": [{"clip_id": "ep000099-s008"}]}))
    check_frames(pin, "ep000099-s008", "a" * 64, 14)  # first decode: recorded
    check_frames(pin, "ep000099-s008", "a" * 64, 14)
    with pytest.raises(DatasetError, match="clip ep000099-s008: its 14 decoded frames differ"):
        check_frames(pin, "ep000099-s008", "b" * 64, 14)


def test_the_hub_commit_is_pinned(mirrors, hub, tmp_path):
    hub_cache(mirrors["lerobot-v2.1"], hub, "cadene/droid_1.0.1")
    assert cli("data", "prepare", "--task", "droid", "--horizon", "1s", "--quiet") == 0
    newer = "f" * 40  # the Hub moves on: refs/main now names another snapshot
    hub_cache(mirrors["lerobot-v2.1"], hub, "cadene/droid_1.0.1", newer)
    out = tmp_path / "run"
    assert cli("run", "--task", "droid", "--model", "copy-last", "--horizon", "1s", "--quiet", "--clips", "1",
               "--out", out) == 0
    assert json.loads((out / "run.json").read_text())["dataset"]["revision"] == COMMIT


def test_offline_missing_files_are_named_with_the_exact_command(mirrors, hub, capsys, monkeypatch):
    snapshot = hub_cache(mirrors["lerobot-v2.1"], hub, "cadene/droid_1.0.1")
    for folder in ("data", "videos"):
        shutil.rmtree(snapshot / folder)
    assert cli("data", "prepare", "--task", "droid", "--horizon", "1s", "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "8 file(s) missing (data/chunk-000/episode_000099.parquet" in err
    assert (f"hf download cadene/droid_1.0.1 --repo-type dataset --revision {COMMIT} "
            "data/chunk-000/episode_000099.parquet data/chunk-000/episode_000199.parquet "
            "videos/chunk-000/observation.images.exterior_1_left/episode_000099.mp4") in err
    assert "episode_000100" not in err  # not a validation episode
    monkeypatch.setattr("pwbench.data.hub.INLINE_FILES", 2)
    assert cli("data", "prepare", "--task", "droid", "--horizon", "1s", "--quiet") == 2
    script = next((Path(hub).parent / "pwbench" / "downloads").glob("cadene--droid_1.0.1-*.sh"))
    assert script.read_text().count("episode_000") == 8 and str(script) in capsys.readouterr().err


def test_an_unknown_source_id_is_one_line(hub, capsys):
    assert cli("run", "--task", "droid", "--model", "copy-last", "--data", "hf:nobody/no-such-dataset",
               "--horizon", "1s", "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nobody/no-such-dataset: 1 file(s) missing (meta/info.json)" in err


def test_download_plan_from_metadata(tmp_path):
    """256 clips: v2.1 costs 4 files per clip; v3.0 the distinct packed files its episodes live in."""
    import pandas as pd

    from pwbench.data.evalset import select_clips
    from pwbench.data.hub import HubLocation, plan_download
    from pwbench.data.lerobot import LeRobotFolder
    from pwbench.data.lerobot_v3 import LeRobotV3Folder

    n = 40_000
    lengths = {i: 150 + (i * 37) % 400 for i in range(n)}  # 10-37 s at 15 Hz
    v2 = tmp_path / "v2" / "meta"
    v2.mkdir(parents=True)
    (v2 / "info.json").write_text(json.dumps({"codebase_version": "v2.1", "fps": 15, "chunks_size": 1000}))
    (v2 / "episodes.jsonl").write_text("".join(json.dumps({"episode_index": i, "tasks": ["t"], "length": n_})
                                                + "\n" for i, n_ in lengths.items()))
    rows, offset = [], 0
    for i, length in lengths.items():
        row = {"episode_index": i, "tasks": ["t"], "length": length, "data/chunk_index": i // 5000,
               "data/file_index": (i // 250) % 20, "dataset_from_index": offset, "dataset_to_index": offset + length}
        for view in protocol.VIEWS:
            key = protocol.VIDEO_KEY_PREFIX + view
            row |= {f"videos/{key}/chunk_index": i // 5000, f"videos/{key}/file_index": (i // 100) % 50,
                    f"videos/{key}/from_timestamp": 0.0, f"videos/{key}/to_timestamp": length / 15}
        rows.append(row)
        offset += length
    v3 = tmp_path / "v3" / "meta" / "episodes" / "chunk-000"
    v3.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(v3 / "file-000.parquet")
    (tmp_path / "v3" / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 15}))
    plans = {}
    for source in (LeRobotFolder(tmp_path / "v2", "cadene/droid_1.0.1"),
                   LeRobotV3Folder(tmp_path / "v3", "lerobot/droid_1.0.1")):
        source.remote = HubLocation(source.dataset_id, COMMIT)  # a Hub dataset: presence from the metadata
        clips = select_clips(DROID, source, "r", min_future=56)["clips"]
        assert len(clips) == 256
        sizes = {rel: (3_000_000 if rel.endswith(".mp4") else 200_000) *
                 (100 if source.layout == "lerobot-v3.0" else 1)
                 for i in (c["episode_index"] for c in clips) for rel in source.files(i)}
        plans[source.layout] = plan_download(source, [c["episode_index"] for c in clips], sizes)
    v2_plan, v3_plan = plans["lerobot-v2.1"], plans["lerobot-v3.0"]
    assert v2_plan["files"] == 4 * 256 and v2_plan["by_kind"]["mp4"]["files"] == 3 * 256
    assert v2_plan["bytes"] == 256 * (3 * 3_000_000 + 200_000) and v2_plan["unknown_size"] == 0
    assert v3_plan["files"] == len(set(v3_plan["paths"])) < v2_plan["files"]
    assert v3_plan["bytes"] == v3_plan["by_kind"]["mp4"]["bytes"] + v3_plan["by_kind"]["parquet"]["bytes"]
