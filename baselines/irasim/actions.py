"""Frame-level actions of the small IRASim: what frame f of a 16-frame window is told.

The original (``Dataset_3D``) gives frame k = 1..15 the end-effector motion from frame k-1 to k —
translation in the previous end-effector frame, relative Euler angles, times 20 — and the
absolute gripper. The small variant keeps that frame-to-frame motion and adds what the shared
small recipe gives every small model: the pose itself, continuous across the ±pi wrap, and its
change from the condition frame, because a residual model must turn exactly that change into
pixels — :class:`pwbench.diffusion.poses.FrameActionFeatures`, 24 numbers per frame, of which
IRASim reads frames 1..15 (frame 0 gets the mask embedding, as in the original).

Deviation, named in the model card: the step is taken in world coordinates (droid-sim's cameras
are fixed in the world) and scaled by its 99th percentile over the train episodes rather than by
the original's constant 20.
"""

from __future__ import annotations

import torch

from pwbench.diffusion.poses import FrameActionFeatures

ACTION_DIM = FrameActionFeatures.dim


class FrameActions(FrameActionFeatures):
    """poses (B, F, 7), frame 0 the condition -> (B, F-1, 24) actions of frames 1..F-1."""

    def __call__(self, poses: torch.Tensor) -> torch.Tensor:
        return super().__call__(poses)[:, 1:]
