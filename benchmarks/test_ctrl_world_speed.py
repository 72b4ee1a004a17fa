"""Speed of the small Ctrl-World (shipped droid-sim weights) on CPU: rollout and training step.

Rollout: one 56-frame clip (14 steps of 4 new frames; each step samples 5 frames x 3 views with
6 history frames and CFG, i.e. two 11-frame UNet passes per sampler step, plus the decode), timed
per chunk by the adapter itself (``model.chunk_seconds``). Content does not change the cost, so
the context is a fixed random frame. Training: one optimiser step of batch 4 on random latents.

Run: ``.venv/bin/pytest benchmarks/test_ctrl_world_speed.py``. Threads: ``PWBENCH_BENCH_THREADS``
(default 1, so that numbers on a shared machine are comparable). Figures: docs/performance.md.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from baselines.ctrl_world.adapter import CHUNK, build
from baselines.ctrl_world.checkpoint import WeightsMissing
from baselines.ctrl_world.config import SMALL
from baselines.ctrl_world.edm import training_loss
from baselines.ctrl_world.model import CtrlWorld
from pwbench import protocol
from pwbench.models.base import RolloutContext

FRAMES = protocol.HORIZON_GRID["11s"]
THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))


def context(seed: int = 0) -> RolloutContext:
    h, w = protocol.TASKS["droid-sim"].resolution
    frame = np.random.default_rng(seed).integers(0, 256, (1, h, w, 3), dtype=np.uint8)
    pose = np.zeros((FRAMES + 1, 7), np.float32)
    return RolloutContext(clip_id="bench", frames={v: frame for v in protocol.VIEWS}, state=pose[:1],
                          joints=pose[:1], instruction="pick up the cube", seed=seed, horizon=FRAMES,
                          future_actions=pose[1:], future_joints=pose[1:])


@pytest.mark.parametrize("num_steps", [SMALL.num_steps, 10])
def test_small_rollout(benchmark, num_steps: int) -> None:
    torch.set_num_threads(THREADS)
    try:
        model = build(protocol.TASKS["droid-sim"], num_steps=num_steps)
    except WeightsMissing as err:
        pytest.skip(str(err))
    ctx = context()

    def rollout() -> None:
        model.reset(ctx)
        for start in range(0, FRAMES, CHUNK):
            model.step(ctx.future_actions[start:start + CHUNK], ctx.future_joints[start:start + CHUNK])

    benchmark.pedantic(rollout, rounds=2, iterations=1, warmup_rounds=0)
    chunk_s = float(np.median(model.chunk_seconds))
    benchmark.extra_info.update(threads=THREADS, num_steps=num_steps, median_chunk_s=chunk_s,
                                frames_per_s=CHUNK / chunk_s)


def test_small_train_step(benchmark) -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = CtrlWorld(SMALL)
    h, w = SMALL.latent_hw
    frames = SMALL.num_history + SMALL.num_frames
    latents = torch.randn(4, frames, SMALL.vae.latent_channels, h, w)
    poses = torch.rand(4, frames, 7) * 2 - 1
    text = torch.randn(4, SMALL.text.projection_dim)
    params = [p for n, p in model.named_parameters() if n.startswith(("unet.", "action_encoder."))]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        loss = training_loss(model, latents, poses, text)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(threads=THREADS, batch_size=4)
