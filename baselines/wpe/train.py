"""``pwbench train wpe --task droid-sim``: the small WPE on the shared loop, data and recipe.

The same data, validation split, fits (:mod:`pwbench.train.small`), loop and recipe as the small
Ctrl-World and IRASim; WPE's own parts: windows of ``max_frames`` (8) consecutive frames, a
reference frame per window drawn uniformly from 0..6 (the frames before it clean context, the
frames after it diffusion-forced, :meth:`baselines.wpe.world.WPEWorld.estimate`), frame
actions against the reference's pose, the latent scale fitted over the 7-frame reach.
``--config`` picks the network: the small WPE, or the same with a pose map
(:mod:`pwbench.diffusion.pose_map`). ``--init-from`` / ``--export`` as for every small model
(a warm start may add the pose map to weights trained without one).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from baselines.wpe.world import CONFIGS, SMALL, WPEWorld
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.poses import FrameActionFeatures
from pwbench.train import small
from pwbench.train.cli import add_config_argument, add_train_arguments, chosen_config, train_config


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train wpe", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"], help="only the small variant trains here")
    add_config_argument(p, CONFIGS, SMALL.name)
    add_train_arguments(p, out="runs/wpe-droid-sim")
    return p.parse_args(argv)


class WPETrainTask(small.SmallTrainTask):
    """A batch: 8-frame windows, each with a reference index k and its frame actions against the
    pose at k; the estimate: the frames after each window's reference."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actions = FrameActionFeatures.from_facts(self._facts)

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        k = torch.from_numpy(rng.integers(0, w.latents.shape[1] - 1, size))
        return w.latents.to(self.device), self._features(w.poses, k), k.to(self.device), w.poses

    def _features(self, poses: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Each window's frame actions against its reference frame k (the current pose)."""
        k = k.cpu()
        return self.actions(poses, poses[torch.arange(len(k)), k]).to(self.device)

    def estimate(self, batch, generator: torch.Generator) -> X0Estimate:
        latents, actions, k, _ = batch
        return self.module.estimate(latents, actions, k, generator)

    def with_actions_of(self, batch, order: torch.Tensor):
        """Window i with window order[i]'s poses, featurised against its own reference index k_i
        (so the zero-change frame stays where window i's clean context ends)."""
        latents, _, k, poses = batch
        return latents, self._features(poses[order], k), k, poses


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    cfg = small.with_train_sigma(chosen_config(args, CONFIGS, SMALL.name), train_config(args).sigma_distribution())
    frames = cfg.net.max_frames
    return small.train_main(args, cfg, WPEWorld, WPETrainTask, frames=frames, reach=frames - 1, title="wpe small")


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
