"""The teacher-forced action probe: exactly zero for a model that ignores its actions, positive for one
that reads them, the same noise for both calls, and a clear error for a task without the hook."""

import numpy as np
import pytest
import torch

from pwbench.errors import PwbenchError
from pwbench.train.probe import action_probe


class ToyTask:
    """Windows x with actions a; the 'model' predicts x from a (reads_actions) or from nothing."""

    device = "cpu"

    def __init__(self, reads_actions: bool) -> None:
        self.reads_actions = reads_actions
        self.noise_draws: list[torch.Tensor] = []

    def batch(self, rng: np.random.Generator, size: int):
        a = torch.from_numpy(rng.standard_normal((size, 3))).float()
        return a + 0.1 * torch.from_numpy(rng.standard_normal((size, 3))).float(), a

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        x, a = batch
        noise = torch.randn(x.shape, generator=generator)
        self.noise_draws.append(noise)
        prediction = a if self.reads_actions else torch.zeros_like(a)
        return ((x + 0.01 * noise - prediction) ** 2).mean()

    def with_actions_of(self, batch, order: torch.Tensor):
        x, a = batch
        return x, a[order]


def test_a_model_that_ignores_its_actions_scores_exactly_zero():
    task = ToyTask(reads_actions=False)
    result = action_probe(task, batches=3, size=4)
    assert result["difference"] == 0.0 and result["batches_where_own_is_better"] == 0
    draws = task.noise_draws
    assert all(torch.equal(draws[i], draws[i + 1]) for i in range(0, len(draws), 2))  # same noise per pair
    assert not torch.equal(draws[0], draws[2])  # another per batch


def test_a_model_that_reads_its_actions_is_better_with_its_own():
    result = action_probe(ToyTask(reads_actions=True), batches=4, size=5, seed=3)
    assert result["difference"] > 3 * result["difference_sem"] > 0  # ~2 (twice the actions' variance)
    assert result["batches_where_own_is_better"] == 4
    assert result["loss_other_actions"] > result["loss_own_actions"]


def test_refusals():
    class NoHook:
        device = "cpu"

    with pytest.raises(PwbenchError, match="no with_actions_of hook"):
        action_probe(NoHook())
    with pytest.raises(ValueError, match="at least 2 batches of 2 windows"):
        action_probe(ToyTask(True), batches=1)
