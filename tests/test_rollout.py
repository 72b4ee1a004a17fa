import numpy as np
import pytest
from plugin_models import Misbehaving

from pwbench import protocol
from pwbench.data.evalset import EvalSet, select_clips
from pwbench.data.lerobot import LeRobotFolder
from pwbench.errors import ClipError
from pwbench.models.calibration import CopyLast, Oracle
from pwbench.rollout import build_context, clip_seed, run_clip

TASK = protocol.TASKS["droid-sim"]


@pytest.fixture(scope="module")
def clip(tiny_dataset, tmp_path_factory):
    ds = LeRobotFolder(tiny_dataset)
    evalset = EvalSet(TASK, select_clips(TASK, ds, "rev"), tmp_path_factory.mktemp("c"), ds)
    evalset.prepare(56, progress=False)
    return evalset.load("ep000000-s008")


def test_context_holds_only_the_past(clip):
    ctx = build_context(clip, 20, seed=3, with_ground_truth=False)
    assert all(f.shape[0] == 9 for f in ctx.frames.values())  # frames 0..s0
    assert ctx.state.shape == (9, 7) and ctx.future_actions.shape == (20, 7)
    assert np.array_equal(ctx.future_actions, clip.episode.state[9:29])
    assert ctx.ground_truth is None


def test_oracle_and_copy_last(clip):
    out = run_clip(Oracle(TASK), clip, 56, seed=1).frames
    assert np.array_equal(out["wrist_left"], clip.episode.frames["wrist_left"][9:65])
    out = run_clip(CopyLast(TASK), clip, 7, seed=1).frames  # 7 = one chunk of 4 + a partial chunk
    assert out["exterior_1_left"].shape == (7, 96, 160, 3)


@pytest.mark.parametrize("mode, message", [
    ("shape", r"wrong shape: got shape \(4, 48, 160, 3\), expected \(4, 96, 160, 3\)"),
    ("nan", "NaN or inf"),
    ("uint16", "dtype uint16"),
    ("few", r"too few frames: got shape \(3, 96, 160, 3\)"),
    ("crash", "raised RuntimeError: CUDA out of memory"),
    ("missing-view", "no frames for view 'wrist_left'"),
])
def test_bad_outputs_name_the_clip(clip, mode, message):
    with pytest.raises(ClipError, match=message) as err:
        run_clip(Misbehaving(TASK, mode), clip, 8, seed=0)
    assert str(err.value).startswith("clip ep000000-s008: ")


def test_float_frames_in_range_are_accepted(clip):
    class FloatModel(Misbehaving):
        def step(self, actions, joints):
            return {v: np.repeat(f[None], len(actions), 0).astype(np.float32) / 255 for v, f in self.last.items()}

    out = run_clip(FloatModel(TASK, "range"), clip, 4, seed=0).frames
    assert np.array_equal(out["wrist_left"][0], clip.episode.frames["wrist_left"][8])
    with pytest.raises(ClipError, match=r"must lie in \[0, 1\]"):
        run_clip(Misbehaving(TASK, "range"), clip, 4, seed=0)


def test_horizon_longer_than_clip(clip):
    with pytest.raises(Exception, match="too short for the horizon"):
        run_clip(CopyLast(TASK), clip, 60, seed=0)


def test_clip_seed_is_stable():
    assert clip_seed("f" * 64, "a") == clip_seed("f" * 64, "a")
    assert clip_seed("f" * 64, "a") != clip_seed("f" * 64, "b")
