"""The fits every small model makes before step 0: the latent scale and the pose statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pwbench.data.train_split import TrainEpisode
from pwbench.train.fit import encode_episode, pose_statistics, residual_scale


def _episodes(n: int = 3, frames: int = 12) -> list[TrainEpisode]:
    rng = np.random.default_rng(0)
    return [TrainEpisode(i, rng.integers(0, 256, (frames, 2, 8, 8, 3), dtype=np.uint8),
                         rng.normal(size=(frames, 7)).astype(np.float32), "x") for i in range(n)]


def _encode(pixels: torch.Tensor) -> torch.Tensor:  # (N, V, 3, H, W) -> (N, 3, V*H, W)
    return torch.cat(list(pixels.unbind(1)), dim=2)


def test_residual_scale_is_the_std_of_every_difference_over_the_reach() -> None:
    eps = _episodes()
    diffs = []
    for e in eps:
        z = encode_episode(_encode, e.frames)
        diffs += [(z[k:] - z[:-k]).flatten() for k in range(1, 6)]
    expected = float(torch.cat(diffs).double().std())
    raw, scale = residual_scale(_encode, eps, reach=5, sigma_data=0.5)
    assert raw == pytest.approx(expected, rel=1e-10)
    assert scale == pytest.approx(0.5 / expected, rel=1e-10)


def test_pose_statistics_percentiles_and_reach() -> None:
    eps = _episodes()
    stats = pose_statistics(eps, reach=3)
    allp = np.concatenate([e.pose for e in eps])
    assert np.allclose(stats["pose_q01"], np.percentile(allp, 1, axis=0))
    assert len(stats["pose_delta_scale"]) == 7 and min(stats["pose_delta_scale"]) > 0
    assert stats["pose_delta_scale"] != pose_statistics(eps, reach=1)["pose_delta_scale"]
