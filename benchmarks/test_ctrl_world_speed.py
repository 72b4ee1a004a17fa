"""Speed of the small Ctrl-World (shipped droid-sim weights) on CPU: the 16-clip rollout and a training step.

Rollout: the eval's shape — 16 clips x 56 frames (14 steps of 4 new frames; each step samples 5
frames x 3 views with 6 history frames, one 11-frame UNet pass per sampler step since the small
recipe has no CFG, plus the decode) — rolled out clip by clip (batch 1, what `pwbench run` does
by default) and in lockstep (batch 16, `pwbench run --batch 16`), side by side in one session on
the same contexts. Content does not change the cost, so contexts are fixed random frames.
Training: one optimiser step of batch 4 on random latents and pose features.

Run: ``PWBENCH_BENCH_THREADS=2 .venv/bin/pytest benchmarks/test_ctrl_world_speed.py``
(threads default 1, so that numbers on a shared machine are comparable). Figures:
docs/performance.md.
"""

from __future__ import annotations

import os

import pytest
import torch

from baselines.ctrl_world.adapter import CHUNK, build
from baselines.ctrl_world.checkpoint import WeightsMissing
from baselines.ctrl_world.config import SMALL
from baselines.ctrl_world.loss import training_loss
from baselines.ctrl_world.model import CtrlWorld
from pwbench import protocol
from pwbench.models.base import RolloutContext
from pwbench.testing import synthetic_context

FRAMES = protocol.HORIZON_GRID["11s"]
CLIPS = 16
THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))


def context(seed: int) -> RolloutContext:
    return synthetic_context(protocol.TASKS["droid-sim"].resolution, FRAMES, seed=seed, context_frames=1,
                             content_seed=seed, clip_id=f"bench{seed}")


@pytest.mark.parametrize("batch", [1, CLIPS])
def test_small_rollout_16_clips(benchmark, batch: int) -> None:
    torch.set_num_threads(THREADS)
    try:
        model = build(protocol.TASKS["droid-sim"])
    except WeightsMissing as err:
        pytest.skip(str(err))
    contexts = [context(s) for s in range(CLIPS)]

    def rollout() -> None:
        for lo in range(0, CLIPS, batch):
            group = contexts[lo:lo + batch]
            model.reset_batch(group)
            for start in range(0, FRAMES, CHUNK):
                model.step_batch([c.future_actions[start:start + CHUNK] for c in group],
                                 [c.future_joints[start:start + CHUNK] for c in group])

    benchmark.pedantic(rollout, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(threads=THREADS, batch=batch, clips=CLIPS, frames=FRAMES,
                                num_steps=SMALL.num_steps, frames_per_s=CLIPS * FRAMES / benchmark.stats["mean"])


def test_small_train_step(benchmark) -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = CtrlWorld(SMALL)
    h, w = SMALL.latent_hw
    frames = SMALL.num_history + SMALL.num_frames
    latents = torch.randn(4, frames, SMALL.vae.latent_channels, h, w)
    feats = torch.rand(4, frames, SMALL.action_dim) * 2 - 1
    text = torch.randn(4, SMALL.text.projection_dim)
    params = [p for n, p in model.named_parameters() if n.startswith(("unet.", "action_encoder."))]
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        loss = training_loss(model, latents, feats, text, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(threads=THREADS, batch_size=4)
