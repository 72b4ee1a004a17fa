"""Does a trained world model read its actions? A teacher-forced probe on validation windows.

A rollout-level action gap (``pwbench run --actions shuffled``) mixes what the network reads with
how its errors compound; the probe asks the network directly. For each batch of validation
windows it computes the training loss twice with the same windows, the same σ and the same noise
(one generator seed per batch, used for both calls): once with each window's own actions and once
with the actions of the next window in the batch (a fixed derangement, so no window keeps its
own). A model that ignores its actions scores both exactly alike; the paired difference
(other − own, positive when the own actions help) is reported with its standard error over
batches. Model families opt in with one hook on their train task, ``with_actions_of(batch,
order)``: the same batch with window ``i``'s actions taken from window ``order[i]``, as the
network would see them. What counts as a window's actions is the family's: Ctrl-World's whole
pose-feature sequence (history and chunk, each window's relative to its own current pose),
IRASim's frame actions (relative to its condition frame), WPE's poses featurised against window
``i``'s own reference frame. Differences are comparable within a family; across families the
losses differ in scale, so compare them as a fraction of the loss.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch

from pwbench.errors import PwbenchError


class ProbedTask(Protocol):
    device: str

    def batch(self, rng: np.random.Generator, size: int) -> Any: ...

    def loss(self, batch: Any, generator: torch.Generator) -> torch.Tensor: ...

    def with_actions_of(self, batch: Any, order: torch.Tensor) -> Any: ...


@torch.no_grad()
def action_probe(task: ProbedTask, batches: int = 12, size: int = 8, seed: int = 0) -> dict[str, Any]:
    """Mean loss with own and with other windows' actions over ``batches`` batches of ``size``
    windows, and the paired difference with its standard error of the mean (over batches)."""
    if not hasattr(task, "with_actions_of"):
        raise PwbenchError(f"{type(task).__name__} has no with_actions_of hook: its actions cannot be probed")
    if batches < 2 or size < 2:
        raise ValueError(f"the probe needs at least 2 batches of 2 windows, got {batches} x {size}")
    rng = np.random.default_rng(seed)
    device = getattr(task, "device", "cpu")
    order = torch.roll(torch.arange(size), -1)  # window i gets window i+1's actions
    own, other = [], []
    for b in range(batches):
        batch = task.batch(rng, size)
        noise_seed = seed * 1_000_003 + b  # the same σ and noise for both calls
        own.append(float(task.loss(batch, torch.Generator(device).manual_seed(noise_seed))))
        shuffled = task.with_actions_of(batch, order)
        other.append(float(task.loss(shuffled, torch.Generator(device).manual_seed(noise_seed))))
    diff = np.asarray(other) - np.asarray(own)
    return {"batches": batches, "windows_per_batch": size, "seed": seed,
            "loss_own_actions": float(np.mean(own)), "loss_other_actions": float(np.mean(other)),
            "difference": float(diff.mean()), "difference_sem": float(diff.std(ddof=1) / math.sqrt(batches)),
            "batches_where_own_is_better": int((diff > 0).sum())}
