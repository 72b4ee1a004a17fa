"""What a small model fits on its training episodes before step 0 (closed form, deterministic).

Every small diffusion world model needs the same three things from the train split, and fits
them the same way so that models trained on one split are comparable:

* the latent code (:func:`fit_codec`: the patch-PCA basis, on every view's frames together);
* the latent scale (:func:`residual_scale`): the factor that gives the diffused residual
  z[t+k] - z[t], k = 1..K, the recipe's sigma_data — K is how far the model's chunk reaches;
* pose statistics (:func:`pose_statistics`): percentiles of the 7-D pose and the 99th-percentile
  pose change over the chunk's reach, for :class:`pwbench.diffusion.poses.PoseFeatures`.

Episodes are encoded once by :func:`encode_episode` (views stacked by the model's multi-view codec).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.codec import PatchPCAAutoencoder, signed_pixels
from pwbench.diffusion.poses import delta_scale_from_episodes

EncodeViews = Callable[[torch.Tensor], torch.Tensor]  # (N, V, 3, H, W) in [-1, 1] -> (N, C, V*h, w)


def fit_codec(codec: PatchPCAAutoencoder, episodes: Sequence[TrainEpisode], seed: int) -> float:
    """Fit the patch-PCA code on the frames of every view; returns the fraction of variance kept."""
    frames = np.concatenate([e.frames for e in episodes]).reshape(-1, *episodes[0].frames.shape[2:])
    return codec.fit(frames, seed=seed)


@torch.no_grad()
def encode_episode(encode_views: EncodeViews, frames: np.ndarray, device: torch.device | str = "cpu",
                   batch: int = 64) -> torch.Tensor:
    """uint8 (T, V, H, W, 3) -> (T, C, V*h, w) latents on the CPU, ``batch`` frames at a time."""
    pix = signed_pixels(frames)
    return torch.cat([encode_views(c.to(device)).cpu() for c in pix.split(batch)])


def residual_scale(encode_views: EncodeViews, episodes: Sequence[TrainEpisode], reach: int, sigma_data: float,
                   device: torch.device | str = "cpu", max_episodes: int = 40) -> tuple[float, float]:
    """(raw residual std, latent scale): the std of z[t+k] - z[t], k = 1..reach, of unscaled
    latents over up to ``max_episodes`` evenly spaced episodes, and the factor that makes it
    ``sigma_data``. ``encode_views`` must encode at scale 1."""
    total = total_sq = 0.0
    count = 0
    for e in episodes[:: max(1, len(episodes) // max_episodes)]:
        z = encode_episode(encode_views, e.frames, device).double()
        for k in range(1, reach + 1):  # running sums: the differences of a long reach do not fit in memory
            d = z[k:] - z[:-k]
            total, total_sq, count = total + float(d.sum()), total_sq + float((d * d).sum()), count + d.numel()
    raw = ((total_sq - total * total / count) / (count - 1)) ** 0.5  # the unbiased std, as torch.std
    return raw, sigma_data / raw


def pose_statistics(episodes: Sequence[TrainEpisode], reach: int) -> dict[str, Any]:
    """Pose percentiles (1st, 99th) and the 99th-percentile change over 1..reach frames."""
    poses = [e.pose for e in episodes]
    allp = np.concatenate(poses).astype(np.float64)
    return {"pose_q01": np.percentile(allp, 1, axis=0).tolist(), "pose_q99": np.percentile(allp, 99, axis=0).tolist(),
            "stats_source": "train episodes (5 Hz)",
            "pose_delta_scale": delta_scale_from_episodes(poses, reach).tolist()}
