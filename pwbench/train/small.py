"""The parts of a small residual world model's trainer that do not depend on its network.

IRASim and WPE (and any later family on the shared recipe) train a ``net`` beside a patch-PCA
``vae`` on the same data, so they fit the same statistics, warm-start and export the same way
(the small Ctrl-World, with its own fit and export, warm-starts here too):

* :func:`fit_statistics` — the codec, the latent scale over the model's reach (how many frames
  ahead of its reference it predicts), pose percentiles, the pose change over the reach and the
  frame-to-frame pose step (:class:`pwbench.diffusion.poses.FrameActionFeatures`);
* :func:`warm_start` — continue from exported weights (their statistics and split too), for a
  budget longer than one session, optionally with a zero-initialised pose map added;
* :func:`export` — the EMA weights of a checkpoint as safetensors shards with every fitted
  statistic and training fact in the metadata, plus ``training.json`` and ``loss.png``;
* :func:`consecutive_windows` — windows of consecutive frames starting anywhere;
* :func:`with_train_sigma` — a configuration that trains at ``--train-sigma`` instead of its recipe's;
* :class:`SmallTrainTask` — the loop's hooks that every family's train task shares (Ctrl-World's too);
* :func:`finish` — every small trainer's end: train (or resume), or probe the actions;
* :func:`train_main` — a trainer's ``main`` for a family on consecutive windows (IRASim, WPE).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.poses import delta_scale_from_episodes
from pwbench.diffusion.schedule import LogNormalSigma
from pwbench.errors import PwbenchError, WeightsMismatch
from pwbench.models.shards import first_load_problem, read_shards, save_shards, shard_files
from pwbench.train.cli import PreparedRun, prepare_run, run_facts
from pwbench.train.config import TrainConfig
from pwbench.train.fit import encode_episode, fit_codec, pose_statistics, residual_scale
from pwbench.train.loop import ema_state_dict, read_checkpoint, train
from pwbench.train.perceptual import PerceptualLoss, estimate_loss, perceptual_for
from pwbench.train.plot import plot_losses
from pwbench.train.probe import action_probe
from pwbench.train.windows import EncodedEpisode, WindowPattern, WindowSampler

FITTED_FACTS = ("pca_variance", "residual_std_raw", "pose_q01", "pose_q99", "stats_source", "pose_delta_scale",
                "pose_step_scale", "scaling_factor", "train_episodes", "validation_episodes", "data")


def fit_statistics(model: nn.Module, episodes: list[TrainEpisode], seed: int, reach: int) -> dict[str, Any]:
    """Fit ``model.vae`` and its latent scale (residual std = the recipe's sigma_data over 1..reach
    frames) and the pose statistics, on the training episodes."""
    facts: dict[str, Any] = {"pca_variance": fit_codec(model.vae, episodes, seed)}
    model.vae.scaling_factor.fill_(1.0)
    raw, scale = residual_scale(model.encode_views, episodes, reach, model.config.recipe.sigma_data, model.device)
    model.vae.scaling_factor.fill_(scale)
    facts.update(residual_std_raw=raw, **pose_statistics(episodes, reach),
                 pose_step_scale=delta_scale_from_episodes([e.pose for e in episodes], 1).tolist(),
                 scaling_factor=scale)
    return facts


ADDED_MODULES = ("pose_map",)  # zero-initialised additions (pwbench.diffusion.pose_map) a warm start may lack


def _added_module(key: str) -> str | None:
    """The added module a state-dict key belongs to ('net.pose_map' for 'net.pose_map.mlp.0.weight')."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in ADDED_MODULES:
            return ".".join(parts[: i + 1])
    return None


def warm_start(model: nn.Module, folder: Path, train_ids: list[int], val_ids: list[int]) -> dict[str, Any]:
    """Load exported shards into ``model``; returns the facts the new run carries on.

    Every key must fit, except that the model may have modules the weights lack when they are
    zero-initialised additions (:data:`ADDED_MODULES`): such a module leaves the loaded network's
    output unchanged, so the new run starts exactly where the old one ended."""
    files = shard_files(folder)
    if not files:
        raise PwbenchError(f"no exported weights (model*.safetensors) in {folder} to warm-start from")
    state, meta = read_shards(files)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of another shape: name it, as for a missing key
        raise WeightsMismatch(f"cannot warm-start {model.config.name} from {folder}: "
                              f"{first_load_problem(err)}") from err
    bad = [k for k in missing if _added_module(k) is None] + list(unexpected)
    if bad:
        raise WeightsMismatch(f"cannot warm-start {model.config.name} from {folder}: {len(bad)} keys do not fit "
                              f"(first: {bad[0]}); only {', '.join(ADDED_MODULES)} may be new")
    if meta.get("train_episodes") != train_ids or meta.get("validation_episodes") != val_ids:
        raise WeightsMismatch(f"{folder} was trained on another train/validation split; warm-start with the "
                              "same --data, --val-episodes and --max-episodes")
    facts = {k: meta[k] for k in FITTED_FACTS if k in meta}
    parent = {k: meta[k] for k in ("config", "train_steps", "train_seconds", "final_loss", "seed", "batch_size",
                                   "lr", "init_from") if k in meta}
    facts["init_from"] = parent | {"weights": str(folder), "new_modules": sorted({_added_module(k) for k in missing})}
    return facts


def export(out: Path, dest: Path, build: Callable[[], nn.Module], title: str) -> dict[str, Any]:
    """EMA weights of ``out/checkpoint.pt`` -> ``dest`` safetensors (+ loss plot, facts JSON)."""
    ckpt = read_checkpoint(out)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint.pt in {out}")
    model = build()
    model.load_state_dict(ema_state_dict(model, ckpt))
    cfg = model.config
    facts = dict(ckpt["facts"]) | {"config": cfg.name, **run_facts(ckpt), "num_steps_default": cfg.recipe.num_steps,
                                   "num_parameters": sum(p.numel() for p in model.net.parameters() if p.requires_grad)}
    paths = save_shards(model.state_dict(), dest, facts)
    plot_losses(ckpt["losses"], dest / "loss.png", f"{title}, droid-sim train ({ckpt['step']} steps)",
                ylabel="EDM x0 loss (weighted)")
    (dest / "training.json").write_text(json.dumps(facts | {"files": [p.name for p in paths]}, indent=1) + "\n")
    return facts


def consecutive_windows(frames: int) -> WindowPattern:
    """``frames`` consecutive frames starting anywhere in the episode (episodes need that many)."""
    def pattern(rng: np.random.Generator, length: int) -> list[int]:
        start = int(rng.integers(0, length - frames + 1))
        return list(range(start, start + frames))

    return pattern


def with_train_sigma(config, sigma: LogNormalSigma | None):
    """``config`` training at ``sigma`` (``TrainConfig.sigma_distribution()``); unchanged for None.

    IRASim and WPE read the training sigma from their :class:`~pwbench.diffusion.recipe.ResidualRecipe`
    (``config.recipe``), Ctrl-World from its own ``train_sigma`` field (its official config keeps
    the published one there). Only training reads it: the sampler and the exported config's name
    stay, so the weights load and sample as any other run of that configuration."""
    if sigma is None:
        return config
    if hasattr(config, "recipe"):
        return replace(config, recipe=replace(config.recipe, train_sigma=sigma))
    return replace(config, train_sigma=sigma)


class SmallTrainTask:
    """The :class:`~pwbench.train.loop.TrainTask` hooks every small world model's trainer shares.

    Each family's task differs only in how it draws a batch, estimates x0 from it and swaps its
    actions for the action probe; the loss (the x0 loss, plus the perceptual term when
    ``--perceptual-weight`` asks for it), the trained parameters and the facts are the same, so
    they live here once. A subclass defines ``batch``, :meth:`estimate` and ``with_actions_of``,
    and names its trained modules in ``trained`` when they are not the ``net``."""

    trained: tuple[str, ...] = ("net.",)  # prefixes of the parameter names the optimiser updates

    def __init__(self, model: nn.Module, sampler: WindowSampler, facts: dict[str, Any], config: TrainConfig) -> None:
        self.name = model.config.name
        self.module = model
        self.sampler = sampler
        self._facts = facts
        self.device = config.device
        # the run's --perceptual-weight (and --perceptual-frames) through the model's own codec (None
        # when 0); finish() passes its after_step hook to the loop, which logs the loss's two parts
        self.perceptual: PerceptualLoss | None = perceptual_for(model.codec.decode_views_with_grad,
                                                                config.perceptual_weight, config.device,
                                                                config.perceptual_frames)

    @property
    def sigma_data(self) -> float:
        return self.module.config.recipe.sigma_data

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith(self.trained) and p.requires_grad]

    def estimate(self, batch: Any, generator: torch.Generator) -> X0Estimate:
        """The model's x0 estimate of a batch's noised frames, all noise drawn from ``generator``."""
        raise NotImplementedError

    def loss(self, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """The x0 loss, plus ``perceptual.weight`` x LPIPS of the estimated frames when set."""
        return estimate_loss(self.estimate(batch, generator), self.sigma_data, self.perceptual, generator)

    def facts(self) -> dict[str, Any]:
        return self._facts


def finish(task: SmallTrainTask, run: PreparedRun, episode_count: int) -> int:
    """Every small trainer's end: train (or resume) and say where the checkpoint is; or, for
    ``--probe-actions``, print the probe's result as JSON. The perceptual term's part logger
    goes to the loop as its extra ``after_step`` hook, so both parts of the loss reach
    ``metrics.jsonl``."""
    if run.probe_batches is not None:  # the sigma asked at: the configuration's training mix (null) or --train-sigma's
        result = action_probe(task, run.probe_batches, run.config.batch_size, run.config.seed)
        print(json.dumps(result | {"train_sigma": run.config.as_dict().get("train_sigma")}, indent=1))
        return 0
    hook = task.perceptual.after_step if task.perceptual is not None else None
    state = train(task, run.config, run.out, resume=run.checkpoint, after_step=hook)
    print(f"saved {run.out / 'checkpoint.pt'} at step {state.step} ({state.seconds / 60:.1f} min, "
          f"{episode_count} episodes)")
    return 0


def train_main(args: argparse.Namespace, cfg: Any, world: Callable[[Any], nn.Module],
               task_type: type[SmallTrainTask], frames: int, reach: int, title: str) -> int:
    """A trainer's ``main`` after parsing, for a family (``world(cfg)``) that trains on windows of
    ``frames`` consecutive frames and predicts up to ``reach`` frames ahead of its reference:
    ``--export``, or fit (resume, warm-start), encode the training episodes once and train."""
    def build() -> nn.Module:
        return world(cfg)

    if args.export:
        print(json.dumps(export(Path(args.out), Path(args.export), build, title), indent=1))
        return 0

    def fit(model: nn.Module, episodes: list[TrainEpisode], seed: int) -> dict[str, Any]:
        return fit_statistics(model, episodes, seed, reach=reach)

    run = prepare_run(args, build, (cfg.view_height, cfg.view_width), fit, warm_start)
    model, device = run.model, run.config.device
    encoded = [EncodedEpisode(e.index, encode_episode(model.encode_views, e.frames, device), torch.from_numpy(e.pose),
                              torch.zeros(0)) for e in run.episodes if len(e.pose) >= frames]
    run.episodes.clear()
    task = task_type(model, WindowSampler(encoded, consecutive_windows(frames)), run.facts, run.config)
    return finish(task, run, len(encoded))
