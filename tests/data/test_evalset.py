import numpy as np
import pytest

from pwbench import protocol
from pwbench.data.evalset import EvalSet, select_clips
from pwbench.data.lerobot import LeRobotFolder
from pwbench.errors import DatasetError

TASK = protocol.TASKS["droid-sim"]


def test_manifest_rule(tiny_dataset):
    manifest = select_clips(TASK, LeRobotFolder(tiny_dataset), "rev")
    assert [c["clip_id"] for c in manifest["clips"]] == ["ep000000-s008", "ep000001-s008", "ep000002-s008"]
    # never a Hub id it cannot know
    assert manifest["revision"] == "rev" and manifest["dataset_id"] == "local:lerobot-v2.1"
    with pytest.raises(DatasetError, match="no episode has"):
        select_clips(TASK, LeRobotFolder(tiny_dataset), "rev", min_future=100)


def test_droid_rule_takes_validation_episodes(tmp_path):
    from lerobot_fixture import make_dataset

    root = make_dataset(tmp_path / "d", episodes=2, frames=200, masks=False, first_index=98)
    manifest = select_clips(protocol.TASKS["droid"], LeRobotFolder(root), "rev")
    assert [c["episode_index"] for c in manifest["clips"]] == [99]


def test_droid_rule_says_when_no_validation_episode_exists(tiny_dataset):
    with pytest.raises(DatasetError, match="no validation episode .*index ends in 99"):
        select_clips(protocol.TASKS["droid"], LeRobotFolder(tiny_dataset), "rev")


def test_cache_roundtrip_and_tamper(tiny_dataset, tmp_path):
    ds = LeRobotFolder(tiny_dataset)
    evalset = EvalSet(TASK, select_clips(TASK, ds, "rev"), tmp_path, ds)
    evalset.prepare(56, progress=False)
    clip = evalset.load("ep000001-s008")
    direct = ds.load_episode(1, TASK.resolution, 65)
    assert np.array_equal(clip.episode.frames["wrist_left"], direct.frames["wrist_left"])
    assert np.array_equal(clip.episode.masks["wrist_left"], direct.masks["wrist_left"])
    assert clip.future_frames == 56
    # a second EvalSet reads the cache without the dataset: no decoding
    again = EvalSet(TASK, evalset.manifest, tmp_path, None)
    assert np.array_equal(again.load("ep000001-s008").episode.state, clip.episode.state)
    path = evalset.dir / "ep000001-s008.npz"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="sha256 differs"):
        again.load("ep000001-s008")
    with pytest.raises(DatasetError, match="too short for the horizon"):
        clip.require(57)
