import json
import shutil

import numpy as np
import pytest
from lerobot_fixture import make_dataset, render

from pwbench import protocol
from pwbench.data.lerobot import LeRobotFolder
from pwbench.data.resize import resize_frames, resize_labels
from pwbench.errors import DatasetError


def test_reads_5hz_resized_episode(tiny_dataset):
    ds = LeRobotFolder(tiny_dataset)
    assert ds.episode_indices == [0, 1, 2]
    assert ds.length(1) == 200 and ds.length_5hz(1) == 67
    ep = ds.load_episode(1, (96, 160), num_frames=10)
    for view in protocol.VIEWS:
        assert ep.frames[view].shape == (10, 96, 160, 3) and ep.frames[view].dtype == np.uint8
        assert ep.masks[view].shape == (10, 96, 160) and ep.masks[view].dtype == bool
    assert ep.state.shape == (10, 7) and ep.joints.shape == (10, 7)
    assert ep.instruction == "move the red block 1"
    # 15 -> 5 Hz keeps source frames 0, 3, 6, ...: compare with the rendered source (lossy codec)
    rgb, labels = render(1, 0, 30)
    expected = resize_frames(rgb[::3], (96, 160))
    assert np.abs(ep.frames["exterior_1_left"].astype(int) - expected).mean() < 3.0
    assert np.array_equal(ep.masks["exterior_1_left"], resize_labels(labels[::3], (96, 160)) >= 2)


def test_episode_too_short(tiny_dataset):
    with pytest.raises(DatasetError, match="has 67 frames at 5 Hz, 70 are needed"):
        LeRobotFolder(tiny_dataset).load_episode(0, (96, 160), num_frames=70)


def test_missing_and_truncated_video(tiny_dataset, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(tiny_dataset, root)
    ds = LeRobotFolder(root)
    ds.video_path(0, "wrist_left").unlink()
    with pytest.raises(DatasetError, match=r"episode 0 wrist_left: .*episode_000000.mp4: missing video file"):
        ds.load_episode(0, (96, 160), num_frames=5)
    path = ds.video_path(1, "wrist_left")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(DatasetError, match=r"episode_000001.mp4: (video is truncated|cannot decode)"):
        ds.load_episode(1, (96, 160), num_frames=60)


def test_bad_metadata(tmp_path):
    with pytest.raises(DatasetError, match="missing .*info.json"):
        LeRobotFolder(tmp_path)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 15}))
    with pytest.raises(DatasetError, match="v3.0"):
        LeRobotFolder(tmp_path)
    (tmp_path / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1", "fps": 12}))
    with pytest.raises(DatasetError, match="12 fps is not a multiple of the protocol's 5 Hz"):
        LeRobotFolder(tmp_path)
    (tmp_path / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1"}))
    with pytest.raises(DatasetError, match="no 'fps' field"):
        LeRobotFolder(tmp_path)


def test_av1_videos_decode(tmp_path):
    """DROID's own videos are AV1; the reader decodes them like H.264."""
    root = make_dataset(tmp_path / "av1", episodes=1, frames=12, masks=False, codec="libsvtav1")
    ep = LeRobotFolder(root).load_episode(0, (192, 320), num_frames=4)
    assert ep.frames["wrist_left"].shape == (4, 192, 320, 3) and ep.masks is None


def test_resize_rule():
    frames = np.random.default_rng(0).integers(0, 256, (2, 180, 320, 3), dtype=np.uint8)
    out = resize_frames(frames, (96, 160))
    assert out.shape == (2, 96, 160, 3) and out.dtype == np.uint8
    assert resize_frames(frames, (180, 320)) is frames
    flat = np.full((1, 180, 320, 3), 77, np.uint8)
    assert np.all(resize_frames(flat, (192, 320)) == 77)
    labels = np.zeros((1, 180, 320), np.uint8)
    labels[:, :90] = 5
    assert set(np.unique(resize_labels(labels, (96, 160)))) == {0, 5}
