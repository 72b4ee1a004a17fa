"""PersistWorld post-training on CPU: K = 16 candidates branched in one batched forward per sampler
step vs one candidate at a time, and one whole iteration with its phases.

Branching: the same branch point (an episode-like context after a 2-chunk prefix) and the same
16 seeds, rolled out 2 chunks either as 16 rows of one batch or as 16 batches of one row, side by
side in one session (each candidate's noise comes from its own seed in both, so the work is the
same). The iteration (prefix, K = 16 branches, rewards, update) runs the shipped small Ctrl-World
with the recipe's defaults except a fixed prefix of 2 and a future of 2 chunks, so rounds compare.

Run: ``PWBENCH_BENCH_THREADS=2 .venv/bin/pytest benchmarks/test_rl_speed.py`` (threads default 1).
Figures: docs/performance.md.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from baselines.ctrl_world.checkpoint import WeightsMissing
from pwbench import protocol
from pwbench.data.train_split import TrainEpisode
from pwbench.testing import synthetic_context

K = 16
THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))
TASK = protocol.TASKS["droid-sim"]


def episode(seed: int = 0, length: int = 40) -> TrainEpisode:
    ctx = synthetic_context(TASK.resolution, length - 1, seed=seed, context_frames=1, content_seed=seed)
    frames = np.stack([np.repeat(ctx.frames[v], length, axis=0) for v in protocol.VIEWS], axis=1)
    return TrainEpisode(index=seed, frames=frames, pose=np.concatenate([ctx.state, ctx.future_actions]),
                        instruction=ctx.instruction)


@pytest.fixture(scope="module")
def world():
    from baselines.ctrl_world.rl import branchable

    torch.set_num_threads(THREADS)
    try:
        return branchable(TASK)[0]
    except WeightsMissing as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("rows", [K, 1])
def test_branch_16_candidates(benchmark, world, rows: int) -> None:
    ep = episode()
    state = world.start([ep], [0], [0])
    for j in range(2):
        world.advance(state, [ep.pose[1 + 4 * j:5 + 4 * j]])
    seeds = list(range(100, 100 + K))

    def branch() -> None:
        for lo in range(0, K, rows):
            s = world.branch(state, rows, seeds[lo:lo + rows])
            for j in range(2):
                world.advance(s, [ep.pose[9 + 4 * j:13 + 4 * j]] * rows)

    benchmark.pedantic(branch, rounds=2, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(threads=THREADS, rows_per_forward=rows, candidates=K, chunks=2)


def test_one_iteration(benchmark, world, tmp_path) -> None:
    from pwbench.metrics import FrameScorer
    from pwbench.rl.recipe import NFTConfig, PersistWorldTask

    task = PersistWorldTask("bench", world, [episode(s) for s in range(3)],
                            NFTConfig(k=K, prefix=(2, 2), future=(2, 2)), FrameScorer())
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    phases: list[dict] = []

    def iteration() -> None:
        batch = task.batch(rng, 1)
        loss = task.loss(batch, gen)
        loss.backward()
        phases.append(task.after_step(1))

    benchmark.pedantic(iteration, rounds=2, iterations=1, warmup_rounds=0)
    mean = {k: float(np.mean([p[k] for p in phases])) for k in ("prefix_s", "branch_s", "reward_s", "update_s")}
    benchmark.extra_info.update(threads=THREADS, k=K, **mean)
