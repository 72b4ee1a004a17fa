"""The WorldModel adapter: shapes, partial chunks, per-chunk timing, bit-exact determinism."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.ctrl_world.action_encoder import PoseEncoder
from baselines.ctrl_world.adapter import CtrlWorldModel, build
from baselines.ctrl_world.checkpoint import SMALL_WEIGHTS_DIR
from pwbench.models.base import RolloutContext
from pwbench.protocol import TASKS, VIEWS, TaskSpec
from pwbench.testing import synthetic_context


def _context(resolution: tuple[int, int], seed: int, horizon: int) -> RolloutContext:
    return synthetic_context(resolution, horizon, seed=seed)


def _rollout(model, ctx: RolloutContext) -> dict[str, np.ndarray]:
    model.reset(ctx)
    chunks = []
    for start in range(0, ctx.horizon, model.spec.chunk_size):
        acts = ctx.future_actions[start:start + model.spec.chunk_size]
        chunks.append(model.step(acts, np.zeros_like(acts)))
    return {v: np.concatenate([c[v] for c in chunks]) for v in VIEWS}


@pytest.fixture()
def tiny_adapter(tiny_model):
    task = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator",
                    mask_version="v", description="tiny")
    return CtrlWorldModel(tiny_model, task, PoseEncoder("bound", np.full(7, -1.0), np.full(7, 1.0)), num_steps=2,
                          variant="tiny")


def test_residual_recipe_rolls_out_and_bad_options_are_refused(tiny_residual_model) -> None:
    task = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator",
                    mask_version="v", description="tiny")
    poses = PoseEncoder("continuous", np.full(7, -1.0), np.full(7, 1.0), np.full(7, 0.05))
    model = CtrlWorldModel(tiny_residual_model, task, poses, num_steps=3, cond_noise=0.1)
    out = _rollout(model, _context((16, 32), seed=0, horizon=6))
    assert all(out[v].shape == (6, 16, 32, 3) for v in VIEWS)
    assert model.spec.extra["cond_noise"] == 0.1 and "residual" in model.spec.description
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        CtrlWorldModel(tiny_residual_model, task, poses, num_steps=0)
    with pytest.raises(ValueError, match="cond_noise must be >= 0"):
        CtrlWorldModel(tiny_residual_model, task, poses, cond_noise=-1)


def test_rollout_shapes_partial_chunk_and_timing(tiny_adapter) -> None:
    out = _rollout(tiny_adapter, _context((16, 32), seed=0, horizon=10))  # chunks of 4, 4, 2
    for v in VIEWS:
        assert out[v].shape == (10, 16, 32, 3) and out[v].dtype == np.uint8
    assert len(tiny_adapter.chunk_seconds) == 3 and all(s > 0 for s in tiny_adapter.chunk_seconds)
    assert tiny_adapter.spec.chunk_size == 4 and tiny_adapter.spec.num_parameters > 0
    assert len(tiny_adapter.buffer) == 24 + 3  # the memory grew by one entry per step


def test_same_seed_same_bytes_other_seed_differs(tiny_adapter) -> None:
    a = _rollout(tiny_adapter, _context((16, 32), seed=5, horizon=8))
    b = _rollout(tiny_adapter, _context((16, 32), seed=5, horizon=8))
    c = _rollout(tiny_adapter, _context((16, 32), seed=6, horizon=8))
    assert all(np.array_equal(a[v], b[v]) for v in VIEWS)
    assert any(not np.array_equal(a[v], c[v]) for v in VIEWS)


@pytest.mark.skipif(not any(SMALL_WEIGHTS_DIR.glob("model*.safetensors")), reason="small weights not shipped yet")
def test_shipped_small_model_rolls_out_8_frames_deterministically() -> None:
    task = TASKS["droid-sim"]
    model = build(task, num_steps=2)
    assert model.spec.resolution == (96, 160) and model.spec.variant == "small-droid-sim"
    ctx = _context(task.resolution, seed=1, horizon=8)
    a = _rollout(model, ctx)
    for v in VIEWS:
        assert a[v].shape == (8, 96, 160, 3) and a[v].dtype == np.uint8
    b = _rollout(model, ctx)
    assert all(np.array_equal(a[v], b[v]) for v in VIEWS)


def test_lockstep_batch_keeps_each_clips_own_noise(tiny_residual_model) -> None:
    task = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator",
                    mask_version="v", description="tiny")
    poses = PoseEncoder("continuous", np.full(7, -1.0), np.full(7, 1.0), np.full(7, 0.05))
    model = CtrlWorldModel(tiny_residual_model, task, poses, num_steps=2)
    a, b, c = (_context((16, 32), seed=s, horizon=4) for s in (1, 2, 3))

    def batch(*ctxs):
        model.reset_batch(list(ctxs))
        return model.step_batch([x.future_actions for x in ctxs], [x.future_joints for x in ctxs])

    ab, ac = batch(a, b), batch(a, c)
    assert all(np.array_equal(ab[0][v], ac[0][v]) for v in VIEWS)  # a's result ignores its neighbour
    assert any(not np.array_equal(ab[0][v], ab[1][v]) for v in VIEWS)  # other seed, other noise
    alone = _rollout(model, a)
    for v in VIEWS:  # batch size 1 vs 2: equal up to float rounding
        assert np.abs(alone[v].astype(int) - ab[0][v].astype(int)).max() <= 1
    with pytest.raises(ValueError, match="2 action chunks for 1 clips"):
        model.reset_batch([a])
        model.step_batch([a.future_actions] * 2, [a.future_joints] * 2)
