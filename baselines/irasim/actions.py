"""Frame-level actions of the small IRASim: what frame f of a 16-frame window is told.

The original (``Dataset_3D``) gives frame k = 1..15 the end-effector motion from frame k-1 to k —
translation in the previous end-effector frame, relative Euler angles, times 20 — and the
absolute gripper. The small variant keeps that frame-to-frame motion and adds what the shared
small recipe gives every small model (:class:`pwbench.diffusion.poses.PoseFeatures`): the pose
itself, continuous across the ±pi wrap, and its change from the condition frame, because a
residual model must turn exactly that change into pixels. Per predicted frame, 24 numbers:

    PoseFeatures(pose_f, reference = pose_0)   (17)
    (pose_f - pose_{f-1}) / step_scale         (7: xyz, wrapped Euler, gripper; clipped to ±4)

Deviation, named in the model card: the step is taken in world coordinates (droid-sim's cameras
are fixed in the world) and scaled by its 99th percentile over the train episodes rather than by
the original's constant 20.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pwbench.diffusion.poses import FEATURE_DIM, PoseFeatures, pose_delta

ACTION_DIM = FEATURE_DIM + 7


class FrameActions:
    """poses (B, F, 7), frame 0 the condition -> (B, F-1, 24) actions of frames 1..F-1."""

    def __init__(self, q01: Sequence[float], q99: Sequence[float], delta_scale: Sequence[float],
                 step_scale: Sequence[float]) -> None:
        self.features = PoseFeatures(q01, q99, delta_scale)
        self.step_scale = torch.as_tensor(np.asarray(step_scale, dtype=np.float32))
        if self.step_scale.shape != (7,) or (self.step_scale <= 0).any():
            raise ValueError(f"step_scale must be 7 positive values, got {self.step_scale.tolist()}")

    def __call__(self, poses: torch.Tensor) -> torch.Tensor:
        feats = self.features(poses[:, 1:], poses[:, :1])
        step = pose_delta(poses[:, 1:], poses[:, :-1]) / self.step_scale.to(poses.device, poses.dtype)
        return torch.cat([feats, step.clamp(-4.0, 4.0)], dim=-1)

    @classmethod
    def from_facts(cls, facts: dict) -> FrameActions:
        return cls(facts["pose_q01"], facts["pose_q99"], facts["pose_delta_scale"], facts["pose_step_scale"])
