"""``pwbench train irasim --task droid-sim``: the small IRASim on the shared loop, data and recipe.

Everything but the network is what the small Ctrl-World trains with, so the two are compared on
equal terms: the droid-sim train split read by :mod:`pwbench.data.train_split` (5 Hz, 96x160), the
last ``--val-episodes`` held out; codec, latent scale and pose statistics fitted on the training
episodes (:mod:`pwbench.train.small`); episodes encoded once; the loop of :mod:`pwbench.train.loop`
(AdamW, warm-up, EMA, clipping, bit-exact resume, loss plot); the recipe of
:mod:`pwbench.diffusion.recipe`. The IRASim-specific parts: windows of 16 consecutive frames
(the condition frame + 15, starting anywhere, as the original's train loader), the latent scale
fitted over the 15-frame reach, and the frame actions of :mod:`baselines.irasim.actions`.

``--config`` picks the network: the small IRASim, or the same with a pose map
(:mod:`pwbench.diffusion.pose_map`). ``--init-from DIR`` continues from exported weights
(statistics and split taken over), for budgets longer than one session, and may add the pose map
to weights trained without one (it starts at zero, so step 0 computes the exported model).
``--export DIR`` writes the EMA weights as safetensors shards
with ``training.json`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from baselines.irasim.actions import FrameActions
from baselines.irasim.world import CONFIGS, SMALL, IRASimWorld
from pwbench.diffusion.estimate import X0Estimate
from pwbench.train import small
from pwbench.train.cli import add_config_argument, add_train_arguments, chosen_config, train_config


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train irasim", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"],
                   help="droid-sim (DROID runs through the same code at full size once weights exist)")
    add_config_argument(p, CONFIGS, SMALL.name)
    add_train_arguments(p, out="runs/irasim-droid-sim")
    return p.parse_args(argv)


class IRASimTrainTask(small.SmallTrainTask):
    """A batch: 16-frame windows and their frame actions; the estimate: all 15 predicted frames."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actions = FrameActions.from_facts(self._facts)

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        return w.latents.to(self.device), self.actions(w.poses).to(self.device)

    def estimate(self, batch, generator: torch.Generator) -> X0Estimate:
        latents, actions = batch
        return self.module.estimate(latents, actions, generator)

    def with_actions_of(self, batch, order: torch.Tensor):
        latents, actions = batch
        return latents, actions[order.to(actions.device)]


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    cfg = small.with_train_sigma(chosen_config(args, CONFIGS, SMALL.name), train_config(args).sigma_distribution())
    return small.train_main(args, cfg, IRASimWorld, IRASimTrainTask, frames=cfg.net.num_frames, reach=cfg.chunk,
                            title="irasim small")


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
