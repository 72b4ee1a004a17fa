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
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.irasim.actions import FrameActions
from baselines.irasim.world import CONFIGS, SMALL, IRASimWorld
from pwbench.train import small
from pwbench.train.cli import add_config_argument, add_train_arguments, finish, prepare_run, train_config
from pwbench.train.fit import encode_episode
from pwbench.train.perceptual import PerceptualLoss, estimate_loss, perceptual_for
from pwbench.train.windows import EncodedEpisode, WindowSampler


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train irasim", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"],
                   help="droid-sim (DROID runs through the same code at full size once weights exist)")
    add_config_argument(p, CONFIGS, SMALL.name)
    add_train_arguments(p, out="runs/irasim-droid-sim")
    return p.parse_args(argv)


class IRASimTrainTask:
    """The hooks :func:`pwbench.train.loop.train` needs."""

    def __init__(self, model: IRASimWorld, sampler: WindowSampler, facts: dict[str, Any], device: str,
                 perceptual: PerceptualLoss | None = None) -> None:
        self.name = model.config.name
        self.module = model
        self.sampler = sampler
        self.actions = FrameActions.from_facts(facts)
        self._facts = facts
        self.device = device
        self.perceptual = perceptual  # finish() passes its after_step hook to the loop

    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith("net.") and p.requires_grad]

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        return w.latents.to(self.device), self.actions(w.poses).to(self.device)

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        """The x0 loss, plus ``perceptual.weight`` x LPIPS of the 15 estimated frames when set."""
        latents, actions = batch
        est = self.module.estimate(latents, actions, generator)
        return estimate_loss(est, self.module.config.recipe.sigma_data, self.perceptual)

    def with_actions_of(self, batch, order: torch.Tensor):
        latents, actions = batch
        return latents, actions[order.to(actions.device)]

    def facts(self) -> dict[str, Any]:
        return self._facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    cfg = small.with_train_sigma(CONFIGS[args.config], train_config(args).sigma_distribution())
    if args.export:
        facts = small.export(Path(args.out), Path(args.export), lambda: IRASimWorld(cfg), "irasim small")
        print(json.dumps(facts, indent=1))
        return 0

    def fit(model, episodes, seed):
        return small.fit_statistics(model, episodes, seed, reach=cfg.chunk)

    run = prepare_run(args, lambda: IRASimWorld(cfg), (cfg.view_height, cfg.view_width), fit, small.warm_start)
    model, frames = run.model, cfg.net.num_frames
    encoded = [EncodedEpisode(e.index, encode_episode(model.encode_views, e.frames, run.config.device),
                              torch.from_numpy(e.pose), torch.zeros(0)) for e in run.episodes if len(e.pose) >= frames]
    run.episodes.clear()
    perceptual = perceptual_for(model.codec.decode_views_with_grad, run.config.perceptual_weight, run.config.device)
    task = IRASimTrainTask(model, WindowSampler(encoded, small.consecutive_windows(frames)), run.facts,
                           run.config.device, perceptual)
    return finish(task, run, len(encoded))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
