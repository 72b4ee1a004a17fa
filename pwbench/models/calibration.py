"""Calibration models: rows every table carries so its numbers can be read.

* ``copy-last`` repeats the last context frame: the floor any world model must beat, and a
  measure of how much a task moves (its scores worsen with the horizon if the scene changes).
* ``oracle`` returns the ground truth: it must score perfect (PSNR at the cap, SSIM 1, LPIPS 0);
  anything else means the harness, not a model, is wrong.
"""

from __future__ import annotations

import numpy as np

from pwbench.models.base import Frames, ModelSpec, RolloutContext, WorldModel
from pwbench.protocol import TaskSpec


class CopyLast(WorldModel):
    def __init__(self, task: TaskSpec) -> None:
        self.spec = ModelSpec(name="copy-last", variant="calibration", resolution=task.resolution,
                              chunk_size=4, views=task.views, context_frames=1,
                              description="repeats the last context frame")
        self._last: dict[str, np.ndarray] = {}

    def reset(self, context: RolloutContext) -> None:
        self._last = {view: frames[-1] for view, frames in context.frames.items()}

    def step(self, actions: np.ndarray, joints: np.ndarray) -> Frames:
        n = len(actions)
        return {view: np.repeat(frame[None], n, axis=0) for view, frame in self._last.items()}


class Oracle(WorldModel):
    def __init__(self, task: TaskSpec) -> None:
        self.spec = ModelSpec(name="oracle", variant="calibration", resolution=task.resolution,
                              chunk_size=4, views=task.views, needs_ground_truth=True,
                              description="returns the ground-truth frames")

    def rollout(self, context: RolloutContext) -> Frames:
        if context.ground_truth is None:
            raise ValueError(f"clip {context.clip_id}: the oracle was given no ground truth")
        return {view: np.array(frames) for view, frames in context.ground_truth.items()}


def build_copy_last(task: TaskSpec, device: str = "cpu") -> WorldModel:
    return CopyLast(task)


def build_oracle(task: TaskSpec, device: str = "cpu") -> WorldModel:
    return Oracle(task)
