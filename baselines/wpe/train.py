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
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.wpe.world import CONFIGS, SMALL, WPEWorld
from pwbench.diffusion.poses import FrameActionFeatures
from pwbench.train import small
from pwbench.train.cli import add_config_argument, add_train_arguments, finish, prepare_run, train_config
from pwbench.train.fit import encode_episode
from pwbench.train.perceptual import PerceptualLoss, estimate_loss, perceptual_for
from pwbench.train.windows import EncodedEpisode, WindowSampler


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train wpe", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"], help="only the small variant trains here")
    add_config_argument(p, CONFIGS, SMALL.name)
    add_train_arguments(p, out="runs/wpe-droid-sim")
    return p.parse_args(argv)


class WPETrainTask:
    def __init__(self, model: WPEWorld, sampler: WindowSampler, facts: dict[str, Any], device: str,
                 perceptual: PerceptualLoss | None = None) -> None:
        self.name = model.config.name
        self.module = model
        self.sampler = sampler
        self.actions = FrameActionFeatures.from_facts(facts)
        self._facts = facts
        self.device = device
        self.perceptual = perceptual  # finish() passes its after_step hook to the loop

    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith("net.")]

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        k = torch.from_numpy(rng.integers(0, w.latents.shape[1] - 1, size))
        return w.latents.to(self.device), self._features(w.poses, k), k.to(self.device), w.poses

    def _features(self, poses: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Each window's frame actions against its reference frame k (the current pose)."""
        k = k.cpu()
        return self.actions(poses, poses[torch.arange(len(k)), k]).to(self.device)

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        """The x0 loss, plus ``perceptual.weight`` x LPIPS of the frames after each window's
        reference when set."""
        latents, actions, k, _ = batch
        est = self.module.estimate(latents, actions, k, generator)
        return estimate_loss(est, self.module.config.recipe.sigma_data, self.perceptual)

    def with_actions_of(self, batch, order: torch.Tensor):
        """Window i with window order[i]'s poses, featurised against its own reference index k_i
        (so the zero-change frame stays where window i's clean context ends)."""
        latents, _, k, poses = batch
        return latents, self._features(poses[order], k), k, poses

    def facts(self) -> dict[str, Any]:
        return self._facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    cfg = small.with_train_sigma(CONFIGS[args.config], train_config(args).sigma_distribution())
    if args.export:
        print(json.dumps(small.export(Path(args.out), Path(args.export), lambda: WPEWorld(cfg), "wpe small"),
                         indent=1))
        return 0
    frames = cfg.net.max_frames

    def fit(model, episodes, seed):
        return small.fit_statistics(model, episodes, seed, reach=frames - 1)

    run = prepare_run(args, lambda: WPEWorld(cfg), (cfg.view_height, cfg.view_width), fit, small.warm_start)
    model = run.model
    encoded = [EncodedEpisode(e.index, encode_episode(model.encode_views, e.frames, run.config.device),
                              torch.from_numpy(e.pose), torch.zeros(0)) for e in run.episodes if len(e.pose) >= frames]
    run.episodes.clear()
    perceptual = perceptual_for(model.codec.decode_views_with_grad, run.config.perceptual_weight, run.config.device)
    task = WPETrainTask(model, WindowSampler(encoded, small.consecutive_windows(frames)), run.facts,
                        run.config.device, perceptual)
    return finish(task, run, len(encoded))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
