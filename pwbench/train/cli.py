"""What every ``pwbench train MODEL`` shares: the command-line options (the :class:`TrainConfig`
fields, the data and validation split, resume, warm start, export) and the start of a run
(:func:`prepare_run`), so each model family's trainer adds only its own parts and the same flag
means the same thing for every model. The end of a run (train, or probe the actions) is
:func:`pwbench.train.small.finish`, beside the train task it runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from pwbench.data.train_split import TrainEpisode
from pwbench.errors import PwbenchError
from pwbench.train.config import TrainConfig
from pwbench.train.loop import read_checkpoint

T = TypeVar("T")


def add_config_argument(p: argparse.ArgumentParser, configs: dict[str, object], default: str) -> None:
    """``--config NAME``: which of a family's small configurations to train (e.g. with a pose map);
    exports record the name, and the family's loader builds what the weights name. Left out, a run
    that continues something builds what that names (:func:`chosen_config`)."""
    p.add_argument("--config", default=None, choices=sorted(configs),
                   help=f"the network configuration: for --resume / --export the checkpoint's, for "
                        f"--probe-actions / --init-from the weights' (--init-from may name another, e.g. "
                        f"to add a pose map), else {default}")


def refuse_probe_with_a_start(args: argparse.Namespace) -> None:
    """``--probe-actions`` reads exported weights as they are: nothing to resume or warm-start."""
    if args.probe_actions and (args.resume or args.init_from):
        raise PwbenchError("--probe-actions reads exported weights; it takes neither --resume nor --init-from")


def chosen_config(args: argparse.Namespace, configs: Mapping[str, T], default: str) -> T:
    """The configuration a run builds. ``--resume`` and ``--export`` continue the checkpoint in
    ``--out`` (when there is one), which names its configuration (the task name), and
    ``--probe-actions`` reads exported weights, which name theirs (every export does): another
    ``--config`` there is an error. ``--init-from`` starts from the weights' configuration unless
    ``--config`` names another (a warm start may add a pose map). Weights that name none get
    ``--config`` or the default; loading them then refuses any key that does not fit, except a
    pose map they lack (zero-initialised: the same network)."""
    from pwbench.models.shards import read_shard_metadata, shard_files

    refuse_probe_with_a_start(args)
    asked = args.config
    ckpt = read_checkpoint(args.out) if args.resume or args.export else None
    folder = args.probe_actions or args.init_from
    if ckpt is not None:
        named, source = ckpt["task"], f"the checkpoint in {args.out}"
    elif folder and not (args.init_from and asked):
        files = shard_files(folder)
        if not files:
            raise PwbenchError(f"no exported weights (model*.safetensors) in {folder}")
        named, source = read_shard_metadata(files).get("config"), f"the weights in {folder}"
    else:
        named = None
    if named is None:
        return configs[asked or default]
    if named not in configs:
        raise PwbenchError(f"{source} names the configuration {named!r}, not one of {', '.join(configs)}")
    if asked is not None and asked != named:
        raise PwbenchError(f"--config {asked} does not match {source}, trained as {named}; leave --config out")
    return configs[named]


def add_train_sigma_argument(p: argparse.ArgumentParser) -> None:
    """``--train-sigma P_MEAN P_STD MIN MAX`` (:attr:`TrainConfig.train_sigma`), for ``pwbench train``
    and ``pwbench posttrain`` alike."""
    p.add_argument("--train-sigma", type=float, nargs=4, default=None, metavar=("P_MEAN", "P_STD", "MIN", "MAX"),
                   help="train at sigma = exp(N(P_MEAN, P_STD^2)) clipped to [MIN, MAX] instead of the model's "
                        "own distribution (e.g. 4.38 0.5 20 200: around sigma 80, where the 1-step sampler "
                        "evaluates)")


def add_train_arguments(p: argparse.ArgumentParser, out: str) -> None:
    d = TrainConfig()
    p.add_argument("--data", default=None, help="droid-sim train split (default $PWBENCH_CACHE/droid-sim/train)")
    p.add_argument("--out", default=out, help="checkpoint, episode cache, loss plot")
    p.add_argument("--val-episodes", type=int, default=20, help="last episodes held out for validation")
    p.add_argument("--max-episodes", type=int, default=None, help="use only the first N episodes of the split")
    for name in ("steps", "batch_size", "warmup", "seed", "threads"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "ema", "weight_decay", "grad_clip", "save_minutes"):
        field = "ema_decay" if name == "ema" else name
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, field))
    p.add_argument("--minutes", type=float, default=None, help="stop (and save) after this training wall time")
    add_train_sigma_argument(p)
    p.add_argument("--perceptual-weight", type=float, default=d.perceptual_weight, metavar="W",
                   help="add W x LPIPS between the decoded x0 estimate and the recorded frames to the loss "
                        "(pwbench.train.perceptual; the evaluation's own LPIPS network)")
    p.add_argument("--perceptual-frames", type=int, default=None, metavar="N",
                   help="the perceptual term on N of each window's predicted frames, drawn at random "
                        "(default: all of them)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (resume is bit-exact on cpu)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="warm-start a new run from exported safetensors (their statistics and split too)")
    exits = p.add_mutually_exclusive_group()
    exits.add_argument("--export", default=None, metavar="DIR", help="write safetensors from the checkpoint and exit")
    exits.add_argument("--probe-actions", default=None, metavar="DIR",
                       help="teacher-forced action probe of exported weights on their validation episodes, then "
                            "exit (pwbench.train.probe; --batch-size windows per batch, --seed)")
    p.add_argument("--probe-batches", type=int, default=12, help="batches of validation windows the probe uses")


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size, lr=args.lr,
                       warmup=args.warmup, weight_decay=args.weight_decay, ema_decay=args.ema,
                       grad_clip=args.grad_clip, seed=args.seed, threads=args.threads, device=args.device,
                       save_minutes=args.save_minutes,
                       train_sigma=tuple(args.train_sigma) if args.train_sigma else None,
                       perceptual_weight=getattr(args, "perceptual_weight", 0.0),  # posttrain has no such flags
                       perceptual_frames=getattr(args, "perceptual_frames", None))


def run_facts(ckpt: dict) -> dict:
    """The training facts of a checkpoint every exported model card states."""
    import numpy as np

    tc = ckpt["config"]
    return {"train_steps": ckpt["step"], "train_seconds": ckpt["seconds"],
            "final_loss": float(np.mean(ckpt["losses"][-100:])) if ckpt["losses"] else float("nan"),
            "seed": tc["seed"], "batch_size": tc["batch_size"], "lr": tc["lr"], "ema_decay": tc["ema_decay"],
            "warmup": tc["warmup"], "weight_decay": tc["weight_decay"], "grad_clip": tc["grad_clip"],
            "threads": tc["threads"], "train_sigma": tc.get("train_sigma"),
            "perceptual_weight": tc.get("perceptual_weight", 0.0),
            "perceptual_frames": tc.get("perceptual_frames")}


@dataclass
class PreparedRun:
    """What a trainer's ``main`` has once the data and the model's starting point are settled."""

    config: TrainConfig
    out: Path
    model: nn.Module
    checkpoint: dict | None  # the run to resume, if any
    episodes: list[TrainEpisode]  # the training episodes (validation ones removed); the validation ones to probe
    facts: dict  # fitted statistics and the split, or the resumed / warm-started run's
    probe_batches: int | None = None  # set when this run only probes exported weights (--probe-actions)


def prepare_run(args: argparse.Namespace, build: Callable[[], nn.Module], resolution: tuple[int, int],
                fit: Callable[[nn.Module, list[TrainEpisode], int], dict],
                warm_start: Callable[[nn.Module, Path, list[int], list[int]], dict]) -> PreparedRun:
    """Every trainer's start, the same way: seed, build, read the split (cached), hold out the
    validation episodes, then resume (``--resume``), warm-start (``--init-from``) or fit the
    statistics on the training episodes. With ``--probe-actions DIR`` the exported weights in DIR
    are loaded instead and the *validation* episodes are kept, for :func:`finish` to probe."""
    from pwbench.data.train_split import default_train_dir, load_episodes, validation_split

    probe = args.probe_actions
    refuse_probe_with_a_start(args)
    config = train_config(args)
    torch.set_num_threads(config.threads)
    out = Path(args.out)
    ckpt = read_checkpoint(out) if args.resume else None
    data = Path(args.data) if args.data else default_train_dir(args.task)
    torch.manual_seed(config.seed)
    model = build()
    if probe:  # only the weights' own validation episodes are read
        train_ids, val_ids = _weights_split(Path(probe))
        episodes = load_episodes(data, out / "cache", resolution, args.max_episodes, only=set(val_ids))
        missing = sorted(set(val_ids) - {e.index for e in episodes})
        if missing:
            limit = f" (--max-episodes {args.max_episodes})" if args.max_episodes is not None else ""
            raise PwbenchError(f"{data}{limit} lacks validation episodes {missing[:5]} of the weights in {probe}")
        facts = warm_start(model, Path(probe), train_ids, val_ids)
        model.to(config.device).eval()
        return PreparedRun(config, out, model, None, episodes, facts, args.probe_batches)
    episodes = load_episodes(data, out / "cache", resolution, args.max_episodes)
    train_ids, val_ids = validation_split([e.index for e in episodes], args.val_episodes)
    episodes = [e for e in episodes if e.index in set(train_ids)]
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        facts = ckpt["facts"]
    elif args.init_from:
        facts = warm_start(model, Path(args.init_from), train_ids, val_ids)
    else:
        facts = fit(model, episodes, config.seed)
        facts.update(train_episodes=train_ids, validation_episodes=val_ids, data=str(data))
    model.to(config.device)
    return PreparedRun(config, out, model, ckpt, episodes, facts)


def _weights_split(folder: Path) -> tuple[list[int], list[int]]:
    """The train and validation episodes exported weights were trained and held out with."""
    from pwbench.models.shards import read_shard_metadata, shard_files

    meta = read_shard_metadata(shard_files(folder))
    train_ids, val_ids = meta.get("train_episodes"), meta.get("validation_episodes")
    if not train_ids or not val_ids:
        raise PwbenchError(f"{folder}: no exported weights naming their train/validation episodes to probe")
    return list(train_ids), list(val_ids)
