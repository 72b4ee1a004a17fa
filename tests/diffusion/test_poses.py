"""Continuous pose features: the ±pi wrap is no jump; the change from the current pose is explicit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pwbench.diffusion.poses import FEATURE_DIM, PoseFeatures, delta_scale_from_episodes, pose_delta, wrap_angle

Q01 = [0.2, -0.4, 0.0, 3.1, -0.02, -3.14, 0.0]
Q99 = [0.7, 0.4, 0.55, 3.2, 0.02, 3.14, 1.0]


def test_yaw_across_the_wrap_gives_nearby_features() -> None:
    feats = PoseFeatures(Q01, Q99, delta_scale=[0.1] * 7)
    a = torch.tensor([[0.4, 0.0, 0.2, 3.14, 0.0, math.pi - 0.01, 0.5]])
    b = a.clone()
    b[0, 5] = -math.pi + 0.01  # 0.02 rad away, on the other side of the wrap
    fa, fb = feats(a, a), feats(b, a)
    assert fa.shape == (1, FEATURE_DIM)
    assert (fa - fb).abs().max().item() < 0.25  # only the small yaw change shows
    assert pose_delta(b, a)[0, 5].item() == pytest.approx(0.02, abs=1e-5)
    # percentile normalisation (the official encoding) puts the same two yaws at opposite ends
    bound = lambda p: 2 * (p[0, 5] - Q01[5]) / (Q99[5] - Q01[5]) - 1  # noqa: E731
    assert abs(bound(a) - bound(b)) > 1.9


def test_reference_pose_has_zero_change_and_wrap_is_half_open() -> None:
    feats = PoseFeatures(Q01, Q99, delta_scale=[0.1] * 7)
    p = torch.rand(3, 5, 7)
    assert torch.equal(feats(p, p)[..., 10:], torch.zeros(3, 5, 7))
    w = wrap_angle(torch.tensor([math.pi, -math.pi, 3 * math.pi, 0.5]))
    assert (w >= -math.pi).all() and (w < math.pi).all()


def test_delta_scale_from_episodes_and_bad_statistics() -> None:
    pose = np.zeros((20, 7), np.float32)
    pose[:, 0] = np.arange(20) * 0.01  # 1 cm per frame in x
    scale = delta_scale_from_episodes([pose], offset=4)
    assert scale[0] == pytest.approx(0.04, rel=0.02) and scale[1] == 1e-3
    with pytest.raises(ValueError, match="delta_scale must be positive"):
        PoseFeatures(Q01, Q99, [0.0] * 7)
    with pytest.raises(ValueError, match="q01 must have 7 values"):
        PoseFeatures(Q01[:6], Q99, [0.1] * 7)
