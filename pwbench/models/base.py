"""The WorldModel interface: what any model implements to be scored by pwbench.

A model sees a clip's context (every frame up to and including the start frame s0, the robot
state at those frames, the instruction) and the actions of the frames to predict; it returns
the predicted frames. Two ways to implement it:

* ``reset(context)`` + ``step(chunk)``: the harness drives the autoregression, handing the
  model ``spec.chunk_size`` actions at a time (the last chunk may be shorter) and collecting
  exactly as many frames per view. This is the usual shape of a video world model.
* ``rollout(context, actions)``: the model produces all frames at once (override it).

Optionally, ``reset_batch(contexts)`` + ``step_batch(actions, joints)`` roll several clips out in
lockstep through one batched forward (``pwbench run --batch N``): per-clip seeds are kept, and a
model states how its results depend on the batch size (usually: bit-identical for equal sizes).
:class:`LockstepModel` is the base for such a model: it implements only the batched pair, and
``reset``/``step`` are its batch of one.

Frames are ``uint8`` arrays shaped ``(T, H, W, 3)`` per view, at the task's resolution.
``float32`` in [0, 1] is accepted too and rounded to uint8 (the protocol scores uint8).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pwbench import protocol

Frames = Mapping[str, np.ndarray]  # view -> (T, H, W, 3)


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and what it wants; written into every result file."""

    name: str
    variant: str
    resolution: tuple[int, int]
    chunk_size: int
    views: tuple[str, ...] = protocol.VIEWS
    fps: int = protocol.FPS
    context_frames: int | None = None  # how many past frames it reads; None: all it is given
    num_parameters: int = 0
    needs_ground_truth: bool = False  # only the `oracle` calibration model may say True
    description: str = ""
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"model {self.name}: chunk_size must be >= 1, got {self.chunk_size}")
        if self.fps != protocol.FPS:
            raise ValueError(f"model {self.name}: protocol v{protocol.PROTOCOL_VERSION} runs at "
                             f"{protocol.FPS} Hz, the model declares {self.fps} Hz")
        unknown = set(self.views) - set(protocol.VIEWS)
        if unknown:
            raise ValueError(f"model {self.name}: unknown views {sorted(unknown)}")


@dataclass(frozen=True)
class RolloutContext:
    """Everything a model may condition on for one clip (nothing from the future but actions)."""

    clip_id: str
    frames: Frames  # view -> (s0 + 1, H, W, 3) uint8: frames 0..s0
    state: np.ndarray  # (s0 + 1, 7) float32: cartesian xyz, euler xyz, gripper at frames 0..s0
    joints: np.ndarray  # (s0 + 1, 7) float32 joint positions at frames 0..s0
    instruction: str
    seed: int
    horizon: int
    future_actions: np.ndarray  # (horizon, 7): the actions of frames s0+1 .. s0+horizon
    future_joints: np.ndarray  # (horizon, 7)
    ground_truth: Frames | None = None  # future frames; given only to needs_ground_truth models


class WorldModel(ABC):
    """Base class of every model pwbench can run. Subclasses set ``spec`` in ``__init__``."""

    spec: ModelSpec

    def reset(self, context: RolloutContext) -> None:
        """Start a clip: read the context, forget the previous clip."""
        raise NotImplementedError(f"{type(self).__name__} implements neither reset/step nor rollout")

    def step(self, actions: np.ndarray, joints: np.ndarray) -> Frames:
        """Predict ``len(actions)`` new frames per view from the model's own past outputs."""
        raise NotImplementedError(f"{type(self).__name__} implements neither reset/step nor rollout")

    def reset_batch(self, contexts: list[RolloutContext]) -> None:
        """Start several clips at once (optional; see ``step_batch``)."""
        raise NotImplementedError

    def step_batch(self, actions: list[np.ndarray], joints: list[np.ndarray]) -> list[Frames]:
        """One chunk for each clip of the last ``reset_batch``, in the same order (optional)."""
        raise NotImplementedError

    def rollout(self, context: RolloutContext) -> Frames:
        """Predict ``context.horizon`` frames per view in one call (optional).

        Models that override this are called once per clip; the others are driven chunk by
        chunk through ``reset``/``step`` by :mod:`pwbench.rollout`, which validates each chunk.
        """
        raise NotImplementedError


class LockstepModel(WorldModel):
    """A model that implements the lockstep pair; ``reset``/``step`` are its batch of one, so a
    clip rolled out alone and one in a batch take the same code path."""

    @abstractmethod
    def reset_batch(self, contexts: list[RolloutContext]) -> None: ...

    @abstractmethod
    def step_batch(self, actions: list[np.ndarray], joints: list[np.ndarray]) -> list[Frames]: ...

    def reset(self, context: RolloutContext) -> None:
        self.reset_batch([context])

    def step(self, actions: np.ndarray, joints: np.ndarray) -> Frames:
        return self.step_batch([actions], [joints])[0]

    def chunk_length(self, actions: list[np.ndarray], clips: int) -> int:
        """The number of frames every clip steps this time: 1..``spec.chunk_size``, the same for
        all ``clips`` clips of the last ``reset_batch`` (a harness or plugin bug otherwise)."""
        if clips == 0:
            raise RuntimeError("step() before reset()")
        if len(actions) != clips:
            raise ValueError(f"{len(actions)} action chunks for {clips} clips")
        counts = {len(a) for a in actions}
        if len(counts) != 1 or not 1 <= (n := counts.pop()) <= self.spec.chunk_size:
            raise ValueError(f"{self.spec.name} steps 1..{self.spec.chunk_size} frames at a time, "
                             "the same for every clip")
        return n


def check_stacked_views(name: str, view_size: tuple[int, int], task: protocol.TaskSpec) -> None:
    """A model (configuration ``name``) that stacks the three DROID views in one canvas runs at
    one view size and needs exactly the protocol's views, in order: anything else is refused,
    never resized or reordered."""
    if tuple(view_size) != tuple(task.resolution):
        raise ValueError(f"{name} runs at {view_size[0]}x{view_size[1]} per view, "
                         f"task {task.name} at {tuple(task.resolution)}")
    if tuple(task.views) != protocol.VIEWS:
        raise ValueError(f"{name} stacks exactly the three DROID views in protocol order, "
                         f"task {task.name} has {tuple(task.views)}")


def supports_batch(model: WorldModel) -> bool:
    """True when the model implements the lockstep ``reset_batch``/``step_batch`` pair."""
    cls = type(model)
    return cls.reset_batch is not WorldModel.reset_batch and cls.step_batch is not WorldModel.step_batch


def overrides_rollout(model: WorldModel) -> bool:
    """True when the model produces whole rollouts itself instead of reset/step."""
    return type(model).rollout is not WorldModel.rollout
