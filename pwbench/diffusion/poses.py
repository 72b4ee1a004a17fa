"""Continuous pose features for small world models: no jump at the ±pi wrap, motion made explicit.

DROID's 7-D pose is cartesian xyz, Euler xyz and the gripper. Normalising Euler angles by
percentiles (the official Ctrl-World's ``normalize_bound``) maps a yaw of +3.14 and one of
-3.14 — the same orientation — to opposite ends of [-1, 1]; droid-sim's yaw crosses the wrap
(eval min -3.142, max 3.141). :class:`PoseFeatures` instead gives each frame

    xyz and gripper mapped [q01, q99] -> [-1, 1] (4)     sin and cos of each Euler angle (6)
    the change from a reference pose (the current frame's): xyz, wrapped Euler, gripper,
    divided by their 99th-percentile magnitude over the training windows (7)

17 numbers per frame. The change is what a residual model must turn into pixels; handing it over
explicitly saves the network from subtracting two absolute encodings it sees on different
cross-attention tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

POSE_DIM = 7
FEATURE_DIM = 17
XYZ, EULER, GRIP = slice(0, 3), slice(3, 6), slice(6, 7)


def wrap_angle(a: torch.Tensor) -> torch.Tensor:
    """Angles to [-pi, pi)."""
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


def pose_delta(pose: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """pose - reference with Euler differences wrapped (broadcasts over leading dims)."""
    d = pose - reference
    return torch.cat([d[..., XYZ], wrap_angle(d[..., EULER]), d[..., GRIP]], dim=-1)


class PoseFeatures:
    """pose (..., 7) and reference (..., 7) -> features (..., 17); statistics from the train split."""

    def __init__(self, q01: Sequence[float], q99: Sequence[float], delta_scale: Sequence[float]) -> None:
        self.q01 = torch.as_tensor(np.asarray(q01, dtype=np.float32))
        self.q99 = torch.as_tensor(np.asarray(q99, dtype=np.float32))
        self.delta_scale = torch.as_tensor(np.asarray(delta_scale, dtype=np.float32))
        for name, t in (("q01", self.q01), ("q99", self.q99), ("delta_scale", self.delta_scale)):
            if t.shape != (POSE_DIM,):
                raise ValueError(f"{name} must have {POSE_DIM} values, got shape {tuple(t.shape)}")
        if (self.delta_scale <= 0).any():
            raise ValueError(f"delta_scale must be positive, got {self.delta_scale.tolist()}")

    def __call__(self, pose: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        dev, dt = pose.device, pose.dtype
        q01, q99, ds = (t.to(dev, dt) for t in (self.q01, self.q99, self.delta_scale))
        bound = (2 * (pose - q01) / (q99 - q01 + 1e-8) - 1).clamp(-1.0, 1.0)
        euler = pose[..., EULER]
        delta = (pose_delta(pose, reference) / ds).clamp(-4.0, 4.0)
        return torch.cat([bound[..., XYZ], bound[..., GRIP], euler.sin(), euler.cos(), delta], dim=-1)

    def metadata(self) -> dict[str, list[float]]:
        return {"pose_q01": self.q01.tolist(), "pose_q99": self.q99.tolist(),
                "pose_delta_scale": self.delta_scale.tolist()}


def delta_scale_from_episodes(poses: Sequence[np.ndarray], offset: int, quantile: float = 0.99) -> np.ndarray:
    """Per-dimension ``quantile`` of |pose[t + k] - pose[t]| over k = 1..offset, floored at 1e-3."""
    diffs = []
    for p in poses:
        p = torch.as_tensor(np.asarray(p, dtype=np.float32))
        for k in range(1, offset + 1):
            if len(p) > k:
                diffs.append(pose_delta(p[k:], p[:-k]).abs())
    alld = torch.cat(diffs).double().numpy()
    return np.maximum(np.quantile(alld, quantile, axis=0), 1e-3)


class FrameActionFeatures:
    """Per-frame actions of a window whose frame 0 is the condition: poses (B, F, 7) -> (B, F, 24).

    Frame f gets :class:`PoseFeatures` of its pose against the condition frame's (17; another
    reference pose may be given) and its step
    from frame f-1 (xyz, wrapped Euler, gripper, each over its 99th percentile on the train
    episodes, clipped to ±4; 7) — the original IRASim's frame-to-frame motion made continuous and
    scaled by the data. Frame 0's step is zero. IRASim reads frames 1..F-1; WPE all of them.
    """

    dim = FEATURE_DIM + POSE_DIM

    def __init__(self, q01: Sequence[float], q99: Sequence[float], delta_scale: Sequence[float],
                 step_scale: Sequence[float]) -> None:
        self.features = PoseFeatures(q01, q99, delta_scale)
        self.step_scale = torch.as_tensor(np.asarray(step_scale, dtype=np.float32))
        if self.step_scale.shape != (POSE_DIM,) or (self.step_scale <= 0).any():
            raise ValueError(f"step_scale must be {POSE_DIM} positive values, got {self.step_scale.tolist()}")

    def __call__(self, poses: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        """``reference`` (B, 7): the pose changes are taken from (default: frame 0's pose)."""
        feats = self.features(poses, poses[:, :1] if reference is None else reference[:, None])
        step = pose_delta(poses[:, 1:], poses[:, :-1]) / self.step_scale.to(poses.device, poses.dtype)
        step = torch.cat([torch.zeros_like(step[:, :1]), step.clamp(-4.0, 4.0)], dim=1)
        return torch.cat([feats, step], dim=-1)

    @classmethod
    def from_facts(cls, facts: dict) -> FrameActionFeatures:
        return cls(facts["pose_q01"], facts["pose_q99"], facts["pose_delta_scale"], facts["pose_step_scale"])
