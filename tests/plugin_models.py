"""Models that misbehave on purpose, registered by tests to exercise the harness's checks."""

from __future__ import annotations

import numpy as np

from pwbench.models.base import ModelSpec, WorldModel
from pwbench.protocol import TaskSpec


def not_a_model(task: TaskSpec, device: str = "cpu") -> object:
    return object()


class Misbehaving(WorldModel):
    """Returns frames broken in the way named by ``mode`` (for the clips listed, else correct)."""

    def __init__(self, task: TaskSpec, mode: str, clips: tuple[str, ...] | None = None) -> None:
        self.spec = ModelSpec(name=f"bad-{mode}", variant="test", resolution=task.resolution,
                              chunk_size=4, views=task.views)
        self.mode, self.clips = mode, clips
        self.h, self.w = task.resolution

    def reset(self, context) -> None:
        self.clip = context.clip_id
        self.last = {v: f[-1] for v, f in context.frames.items()}

    def step(self, actions, joints):
        n = len(actions)
        good = {v: np.repeat(f[None], n, 0) for v, f in self.last.items()}
        if self.clips is not None and self.clip not in self.clips:
            return good
        if self.mode == "shape":
            return {v: f[:, : self.h // 2] for v, f in good.items()}
        if self.mode == "nan":
            return {v: np.full(f.shape, np.nan, np.float32) for v, f in good.items()}
        if self.mode == "uint16":
            return {v: f.astype(np.uint16) for v, f in good.items()}
        if self.mode == "few":
            return {v: f[: n - 1] for v, f in good.items()}
        if self.mode == "range":
            return {v: f.astype(np.float32) for v, f in good.items()}
        if self.mode == "crash":
            raise RuntimeError("CUDA out of memory (simulated)")
        if self.mode == "missing-view":
            return {v: f for v, f in good.items() if v != "wrist_left"}
        raise ValueError(self.mode)


def build_bad(task: TaskSpec, device: str = "cpu", mode: str = "shape", clips: str | None = None) -> WorldModel:
    return Misbehaving(task, mode, tuple(clips.split(",")) if clips else None)


class Slow(WorldModel):
    """copy-last that sleeps ``PWBENCH_SLOW_SECONDS`` per chunk, so a test can kill it mid-run."""

    def __init__(self, task: TaskSpec) -> None:
        import os

        from pwbench.models.calibration import CopyLast

        self.inner = CopyLast(task)
        self.spec = self.inner.spec
        self.delay = float(os.environ.get("PWBENCH_SLOW_SECONDS", "0.1"))

    def reset(self, context) -> None:
        self.inner.reset(context)

    def step(self, actions, joints):
        import time

        time.sleep(self.delay)
        return self.inner.step(actions, joints)


def build_slow(task: TaskSpec, device: str = "cpu") -> WorldModel:
    return Slow(task)


def build_raising(task: TaskSpec, device: str = "cpu") -> WorldModel:
    raise RuntimeError("weights corrupted (simulated)")


class Darkened(WorldModel):
    """Copy-last, a little darker: a stand-in world model that scores differently from copy-last.
    How much darker (0.85..0.95) is drawn from the clip's seed: its sampling noise, for seed runs."""

    def __init__(self, task: TaskSpec) -> None:
        self.spec = ModelSpec(name="darkened", variant="test <b>bold</b>", resolution=task.resolution,
                              chunk_size=4, views=task.views)

    def reset(self, context) -> None:
        factor = 0.85 + 0.1 * np.random.default_rng(context.seed).random()
        self.last = {v: (f[-1] * factor).astype(np.uint8) for v, f in context.frames.items()}

    def step(self, actions, joints):
        return {v: np.repeat(f[None], len(actions), 0) for v, f in self.last.items()}


def build_darkened(task: TaskSpec, device: str = "cpu") -> WorldModel:
    return Darkened(task)
