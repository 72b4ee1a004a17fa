"""What the model families share from pwbench.models: lockstep reset/step, chunk checks, stacked views."""

import dataclasses

import numpy as np
import pytest
import torch

from pwbench import protocol
from pwbench.models.base import LockstepModel, ModelSpec, check_stacked_views, supports_batch
from pwbench.models.options import apply_threads

TASK = protocol.TASKS["droid-sim"]


class Echo(LockstepModel):
    """Returns, for every clip, as many frames as it got actions, filled with its seed."""

    def __init__(self) -> None:
        self.spec = ModelSpec(name="echo", variant="test", resolution=tuple(TASK.resolution), chunk_size=3,
                              views=TASK.views, context_frames=1)
        self.seeds: list[int] = []

    def reset_batch(self, contexts) -> None:
        self.seeds = [c.seed for c in contexts]

    def step_batch(self, actions, joints):
        n = self.chunk_length(actions, len(self.seeds))
        return [{v: np.full((n, 2, 2, 3), s, np.uint8) for v in self.spec.views} for s in self.seeds]


def test_reset_and_step_are_a_batch_of_one():
    model = Echo()
    assert supports_batch(model)
    model.reset(dataclasses.make_dataclass("C", [("seed", int)])(7))
    out = model.step(np.zeros((2, 7)), np.zeros((2, 7)))
    assert set(out) == set(TASK.views) and (out[TASK.views[0]] == 7).all() and len(out[TASK.views[0]]) == 2


def test_chunk_length_refuses_what_a_driver_bug_would_send():
    model = Echo()
    with pytest.raises(RuntimeError, match="before reset"):
        model.chunk_length([np.zeros((1, 7))], 0)
    with pytest.raises(ValueError, match="2 action chunks for 1 clips"):
        model.chunk_length([np.zeros((1, 7))] * 2, 1)
    for bad in ([np.zeros((4, 7))], [np.zeros((0, 7))], [np.zeros((1, 7)), np.zeros((2, 7))]):
        with pytest.raises(ValueError, match="echo steps 1..3 frames at a time"):
            model.chunk_length(bad, len(bad))
    assert model.chunk_length([np.zeros((3, 7))] * 2, 2) == 3


def test_stacked_views_need_the_task_resolution_and_the_protocol_views():
    check_stacked_views("cfg", tuple(TASK.resolution), TASK)
    with pytest.raises(ValueError, match="cfg runs at 1x2 per view, task droid-sim at"):
        check_stacked_views("cfg", (1, 2), TASK)
    reordered = dataclasses.replace(TASK, views=tuple(reversed(TASK.views)))
    with pytest.raises(ValueError, match="exactly the three DROID views in protocol order"):
        check_stacked_views("cfg", tuple(TASK.resolution), reordered)


def test_threads_option():
    before = torch.get_num_threads()
    try:
        apply_threads(None)
        assert torch.get_num_threads() == before
        apply_threads(1)
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
            apply_threads(0)
    finally:
        torch.set_num_threads(before)
