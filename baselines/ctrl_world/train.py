"""``pwbench train ctrl-world --task droid-sim``: the small variant on the shared training loop.

Data: the droid-sim train split (``pwbench data sim --split train``), read by
:mod:`pwbench.data.train_split` at 5 Hz and 96x160, the last ``--val-episodes`` held out for
validation (every recipe choice is made on them, never on the eval split). Fitted once, before
step 0, on the training episodes only: the patch-PCA code, the latent scale (so the residual
z[t+k] - z[t], k = 1..4, has std sigma_data), the pose percentiles and the pose-change scale.
Episodes are then encoded once; windows follow :mod:`baselines.ctrl_world.windows`; the loss is
:func:`baselines.ctrl_world.loss.training_loss`; the loop (AdamW, warm-up, EMA, clipping,
bit-exact resume, loss plot) is :func:`pwbench.train.loop.train`.

``--init-from DIR`` warm-starts a new run from exported safetensors: their weights, fitted
statistics and train/validation split are taken over, and only modules the exported config did
not have (zero-initialised additions such as the pose map) start fresh, so step 0 computes
exactly the exported model. Its facts are kept under ``init_from`` (the model card adds them up).

``--export DIR`` writes the EMA weights as safetensors shards (< 20 MB each) with the fitted
statistics and training facts in their metadata, plus ``training.json`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.ctrl_world.action_encoder import PoseEncoder
from baselines.ctrl_world.checkpoint import save_small
from baselines.ctrl_world.config import CONFIGS, CtrlWorldConfig
from baselines.ctrl_world.loss import estimate_chunk
from baselines.ctrl_world.model import CtrlWorld
from baselines.ctrl_world.windows import CHUNK_STRIDE, window_pattern
from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.estimate import X0Estimate
from pwbench.train import small
from pwbench.train.cli import add_train_arguments, prepare_run, run_facts, train_config
from pwbench.train.fit import encode_episode, fit_codec, pose_statistics, residual_scale
from pwbench.train.loop import ema_state_dict, read_checkpoint
from pwbench.train.plot import plot_losses
from pwbench.train.windows import EncodedEpisode, WindowSampler

TRAINED_MODULES = ("unet.", "action_encoder.", "pose_map.")

def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train ctrl-world", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"], help="only the small variant trains here")
    add_train_arguments(p, out="runs/ctrl-world-droid-sim")
    return p.parse_args(argv)


def fit_statistics(model: CtrlWorld, episodes: list[TrainEpisode], seed: int) -> dict[str, Any]:
    """Fit the codec, latent scale and pose statistics on the training episodes (:mod:`pwbench.train.fit`)."""
    cfg = model.config
    facts: dict[str, Any] = {"pca_variance": fit_codec(model.vae, episodes, seed)}
    if cfg.residual:  # scale latents so the diffused residual has std sigma_data
        model.vae.scaling_factor.fill_(1.0)
        raw, scale = residual_scale(model.encode_views, episodes, cfg.num_frames - 1, cfg.sigma_data,
                                    model.unet.conv_in.weight.device)
        model.vae.scaling_factor.fill_(scale)
        facts.update(residual_std_raw=raw)
    stats = pose_statistics(episodes, CHUNK_STRIDE)
    if cfg.pose_features != "continuous":
        del stats["pose_delta_scale"]
    facts.update(stats)
    facts["scaling_factor"] = float(model.vae.scaling_factor)
    return facts


def _encode(model: CtrlWorld, ep: TrainEpisode) -> torch.Tensor:
    return encode_episode(model.encode_views, ep.frames, model.unet.conv_in.weight.device)


def pose_encoder(cfg: CtrlWorldConfig, facts: dict[str, Any]) -> PoseEncoder:
    return PoseEncoder(cfg.pose_features, facts["pose_q01"], facts["pose_q99"], facts.get("pose_delta_scale"))


class CtrlWorldTrainTask(small.SmallTrainTask):
    """A batch: windows of :func:`baselines.ctrl_world.windows.window_pattern` with their pose
    features against the current frame and the instruction's text embedding."""

    trained = TRAINED_MODULES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poses = pose_encoder(self.module.config, self._facts)

    @property
    def sigma_data(self) -> float:
        return self.module.config.sigma_data

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        nh = self.module.config.num_history
        feats = self.poses(w.poses, w.poses[:, nh])
        return tuple(t.to(self.device) for t in (w.latents, feats, w.text))

    def estimate(self, batch, generator: torch.Generator) -> X0Estimate:
        latents, feats, text = batch
        return estimate_chunk(self.module, latents, feats, text, generator)

    def with_actions_of(self, batch, order: torch.Tensor):
        latents, feats, text = batch
        return latents, feats[order.to(feats.device)], text


def export(out: Path, dest: Path) -> dict[str, Any]:
    """EMA weights of ``out/checkpoint.pt`` -> ``dest`` safetensors (+ loss plot, facts JSON)."""
    ckpt = read_checkpoint(out)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint.pt in {out}")
    cfg = CONFIGS["droid-sim"]
    model = CtrlWorld(cfg)
    model.load_state_dict(ema_state_dict(model, ckpt))
    facts = dict(ckpt["facts"])
    facts.update(config=cfg.name, **run_facts(ckpt), num_steps_default=cfg.num_steps,
                 num_parameters=sum(p.numel() for p in model.parameters()))
    paths = save_small(model, dest, facts)
    plot_losses(ckpt["losses"], dest / "loss.png", f"ctrl-world small, droid-sim train ({ckpt['step']} steps)",
                ylabel="EDM x0 loss (weighted)")
    (dest / "training.json").write_text(json.dumps(facts | {"files": [p.name for p in paths]}, indent=1) + "\n")
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    if args.export:
        print(json.dumps(export(Path(args.out), Path(args.export)), indent=1))
        return 0
    cfg = small.with_train_sigma(CONFIGS[args.task], train_config(args).sigma_distribution())
    run = prepare_run(args, lambda: CtrlWorld(cfg), (cfg.view_height, cfg.view_width), fit_statistics,
                      small.warm_start)
    model = run.model
    encoded = [EncodedEpisode(e.index, _encode(model, e), torch.from_numpy(e.pose),
                              model.text_embeds([e.instruction])[0].cpu()) for e in run.episodes]
    run.episodes.clear()
    task = CtrlWorldTrainTask(model, WindowSampler(encoded, window_pattern(cfg)), run.facts, run.config)
    return small.finish(task, run, len(encoded))


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
