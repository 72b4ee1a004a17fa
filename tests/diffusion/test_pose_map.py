"""The shared pose map: shapes for a UNet (3x3, stride 1) and a transformer (patchifying), zero output
at initialisation, gradients reaching the MLP once the projection has moved."""

from __future__ import annotations

import pytest
import torch

from pwbench.diffusion.pose_map import PoseMap


@pytest.mark.parametrize(("kernel", "stride", "out_hw"), [(3, 1, (6, 4)), (2, 2, (3, 2))])
def test_shapes_and_a_zero_start(kernel: int, stride: int, out_hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    pose_map = PoseMap(5, 16, 3, (6, 4), 8, kernel=kernel, stride=stride)
    out = pose_map(torch.randn(2, 7, 5))
    assert out.shape == (14, 8, *out_hw)
    assert torch.count_nonzero(out) == 0  # zero-initialised projection: the host network is unchanged


def test_frames_map_independently_and_the_mlp_learns_once_the_projection_moves() -> None:
    torch.manual_seed(0)
    pose_map = PoseMap(5, 16, 3, (6, 4), 8, kernel=2, stride=2)
    torch.nn.init.normal_(pose_map.proj.weight, std=0.1)
    feats = torch.randn(2, 3, 5)
    out = pose_map(feats)
    moved = feats.clone()
    moved[1, 2] += 1.0
    out2 = pose_map(moved)
    changed = (out2 - out).flatten(1).abs().amax(1) > 0
    assert changed.tolist() == [False] * 5 + [True]  # only row (b=1, f=2), in (b, f) order
    out.square().sum().backward()
    assert pose_map.mlp[0].weight.grad.abs().sum() > 0


def test_refuses_an_empty_map() -> None:
    with pytest.raises(ValueError, match="channels >= 1"):
        PoseMap(5, 16, 0, (6, 4), 8)
