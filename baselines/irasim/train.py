"""``pwbench train irasim --task droid-sim``: the small IRASim on the shared loop, data and recipe.

Everything but the network is what the small Ctrl-World trains with, so the two are compared on
equal terms: the droid-sim train split read by :mod:`pwbench.data.train_split` (5 Hz, 96x160), the
last ``--val-episodes`` held out; codec, latent scale and pose statistics fitted on the training
episodes by :mod:`pwbench.train.fit`; episodes encoded once; the loop of :mod:`pwbench.train.loop`
(AdamW, warm-up, EMA, clipping, bit-exact resume, loss plot); the recipe of
:mod:`pwbench.diffusion.recipe`. The IRASim-specific parts: windows of 16 consecutive frames
(the condition frame + 15, starting anywhere, as the original's train loader), the latent scale
fitted over the 15-frame reach, and the 24 frame actions of :mod:`baselines.irasim.actions`.

``--init-from DIR`` continues from exported weights (statistics and split taken over), for
budgets longer than one session; ``--export DIR`` writes the EMA weights as safetensors shards
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
from baselines.irasim.weights import read_small
from baselines.irasim.world import SMALL, IRASimWorld
from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.poses import delta_scale_from_episodes
from pwbench.errors import PwbenchError
from pwbench.models.shards import save_shards
from pwbench.train.cli import add_train_arguments, prepare_run, run_facts
from pwbench.train.fit import encode_episode, fit_codec, pose_statistics, residual_scale
from pwbench.train.loop import ema_state_dict, read_checkpoint, train
from pwbench.train.plot import plot_losses
from pwbench.train.windows import EncodedEpisode, WindowSampler

FITTED_FACTS = ("pca_variance", "residual_std_raw", "pose_q01", "pose_q99", "stats_source", "pose_delta_scale",
                "pose_step_scale", "scaling_factor", "train_episodes", "validation_episodes", "data")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train irasim", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"],
                   help="droid-sim (DROID runs through the same code at full size once weights exist)")
    add_train_arguments(p, out="runs/irasim-droid-sim")
    return p.parse_args(argv)


def fit_statistics(model: IRASimWorld, episodes: list[TrainEpisode], seed: int) -> dict[str, Any]:
    cfg = model.config
    facts: dict[str, Any] = {"pca_variance": fit_codec(model.vae, episodes, seed)}
    model.vae.scaling_factor.fill_(1.0)
    raw, scale = residual_scale(model.encode_views, episodes, cfg.chunk, cfg.recipe.sigma_data, model.device)
    model.vae.scaling_factor.fill_(scale)
    facts.update(residual_std_raw=raw, **pose_statistics(episodes, cfg.chunk),
                 pose_step_scale=delta_scale_from_episodes([e.pose for e in episodes], 1).tolist(),
                 scaling_factor=scale)
    return facts


def window_pattern(frames: int):
    def pattern(rng: np.random.Generator, length: int) -> list[int]:
        start = int(rng.integers(0, length - frames + 1))
        return list(range(start, start + frames))

    return pattern


class IRASimTrainTask:
    """The hooks :func:`pwbench.train.loop.train` needs."""

    def __init__(self, model: IRASimWorld, sampler: WindowSampler, facts: dict[str, Any], device: str) -> None:
        self.name = model.config.name
        self.module = model
        self.sampler = sampler
        self.actions = FrameActions.from_facts(facts)
        self._facts = facts
        self.device = device

    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith("net.") and p.requires_grad]

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        return w.latents.to(self.device), self.actions(w.poses).to(self.device)

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        latents, actions = batch
        return self.module.training_loss(latents, actions, generator)

    def facts(self) -> dict[str, Any]:
        return self._facts


def warm_start(model: IRASimWorld, folder: Path, train_ids: list[int], val_ids: list[int]) -> dict[str, Any]:
    state, meta = read_small(folder)
    model.load_state_dict(state, strict=True)
    if meta.get("train_episodes") != train_ids or meta.get("validation_episodes") != val_ids:
        raise PwbenchError(f"{folder} was trained on another train/validation split; warm-start with the "
                           "same --data, --val-episodes and --max-episodes")
    facts = {k: meta[k] for k in FITTED_FACTS if k in meta}
    facts["init_from"] = {k: meta[k] for k in ("config", "train_steps", "train_seconds", "final_loss", "seed",
                                               "batch_size", "lr", "init_from") if k in meta} | {"weights": str(folder)}
    return facts


def export(out: Path, dest: Path) -> dict[str, Any]:
    """EMA weights of ``out/checkpoint.pt`` -> ``dest`` safetensors (+ loss plot, facts JSON)."""
    ckpt = read_checkpoint(out)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint.pt in {out}")
    model = IRASimWorld(SMALL)
    model.load_state_dict(ema_state_dict(model, ckpt))
    facts = dict(ckpt["facts"]) | {"config": SMALL.name, **run_facts(ckpt), "num_steps_default": SMALL.recipe.num_steps,
                                   "num_parameters": sum(p.numel() for p in model.net.parameters() if p.requires_grad)}
    paths = save_shards(model.state_dict(), dest, facts)
    plot_losses(ckpt["losses"], dest / "loss.png", f"irasim small, droid-sim train ({ckpt['step']} steps)",
                ylabel="EDM x0 loss (weighted)")
    (dest / "training.json").write_text(json.dumps(facts | {"files": [p.name for p in paths]}, indent=1) + "\n")
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    if args.export:
        print(json.dumps(export(Path(args.out), Path(args.export)), indent=1))
        return 0
    run = prepare_run(args, lambda: IRASimWorld(SMALL), (SMALL.view_height, SMALL.view_width), fit_statistics,
                      warm_start)
    model, frames = run.model, SMALL.net.num_frames
    encoded = [EncodedEpisode(e.index, encode_episode(model.encode_views, e.frames, run.config.device),
                              torch.from_numpy(e.pose), torch.zeros(0)) for e in run.episodes if len(e.pose) >= frames]
    run.episodes.clear()
    task = IRASimTrainTask(model, WindowSampler(encoded, window_pattern(frames)), run.facts, run.config.device)
    state = train(task, run.config, run.out, resume=run.checkpoint)
    print(f"saved {run.out / 'checkpoint.pt'} at step {state.step} ({state.seconds / 60:.1f} min, "
          f"{len(encoded)} episodes)")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
