"""Rollout throughput of every small world model on CPU, one session, the same threads and contexts.

The issue's budget: each model rolls out the 16-clip, 11 s droid-sim eval (56 frames x 3 views
per clip) in <= 90 s on 2 cores. Measured clip by clip (batch 1, what ``pwbench run`` does by
default) and in lockstep (batch 16, ``--batch 16``), with the shipped weights and each model's
default sampler (the weights' validated choice).

Run: ``PWBENCH_BENCH_THREADS=2 .venv/bin/pytest benchmarks/test_rollout_speed.py``; figures in
docs/performance.md.
"""

from __future__ import annotations

import os

import pytest
import torch

from pwbench import protocol
from pwbench.models.base import RolloutContext, WorldModel
from pwbench.testing import synthetic_context

FRAMES = protocol.HORIZON_GRID["11s"]
CLIPS = 16
THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))
TASK = protocol.TASKS["droid-sim"]


def _build(name: str) -> WorldModel:
    """The shipped small model (weights in git), with its default sampler."""
    from pwbench.models import registry

    return registry.build(name, TASK)


MODELS = ["ctrl-world", "irasim", "wpe"]


def context(seed: int) -> RolloutContext:
    return synthetic_context(TASK.resolution, FRAMES, seed=seed, context_frames=1, content_seed=seed,
                             clip_id=f"bench{seed}")


@pytest.mark.parametrize("batch", [1, CLIPS])
@pytest.mark.parametrize("name", MODELS)
def test_rollout_16_clips_11s(benchmark, name: str, batch: int) -> None:
    torch.set_num_threads(THREADS)
    model = _build(name)
    chunk = model.spec.chunk_size
    contexts = [context(s) for s in range(CLIPS)]

    def rollout() -> None:
        for lo in range(0, CLIPS, batch):
            group = contexts[lo:lo + batch]
            model.reset_batch(group)
            for start in range(0, FRAMES, chunk):
                model.step_batch([c.future_actions[start:start + chunk] for c in group],
                                 [c.future_joints[start:start + chunk] for c in group])

    benchmark.pedantic(rollout, rounds=1, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats["mean"]
    benchmark.extra_info.update(model=name, threads=THREADS, batch=batch, clips=CLIPS,
                                frames=FRAMES, chunk=chunk, sampler=model.spec.extra,
                                frames_per_s=CLIPS * FRAMES / seconds, within_90s=seconds <= 90)
