"""`pwbench posttrain persistworld --model MODEL`: PersistWorld's RL post-training on any world
model registered as post-trainable (:data:`pwbench.rl.protocol.BRANCHABLES`).

Trains on the task's train split (the last ``--val-episodes`` held out, as the base model's own
trainer does), checkpoints and resumes through the shared loop, logs every iteration to
``metrics.jsonl``; ``--export DIR`` writes the adapters (EMA) as safetensors with every setting.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pwbench.errors import PwbenchError

METHODS = ("persistworld",)


def register(sub: argparse._SubParsersAction) -> None:
    from pwbench.rl.recipe import OBJECTIVES, NFTConfig
    from pwbench.train.cli import add_train_sigma_argument
    from pwbench.train.config import TrainConfig

    n, t = NFTConfig(), TrainConfig()
    p = sub.add_parser("posttrain", help="RL post-training of a world model (PersistWorld)",
                       description=__doc__.splitlines()[0])
    p.add_argument("method", choices=METHODS)
    p.add_argument("--model", default="ctrl-world", help="post-trainable model: ctrl-world (default), irasim, a plugin")
    p.add_argument("--task", default="droid-sim")
    p.add_argument("--weights", default=None, help="base model weights (default: the model's shipped ones)")
    p.add_argument("--data", default=None, help="train split (default $PWBENCH_CACHE/<task>/train)")
    p.add_argument("--out", default="runs/persistworld", help="checkpoint, episode cache, metrics log")
    p.add_argument("--val-episodes", type=int, default=20, help="last episodes held out for validation")
    p.add_argument("--max-episodes", type=int, default=None)
    p.add_argument("--k", type=int, default=n.k, help="candidates per branch point (ground-truth: none, no branching)")
    p.add_argument("--beta", type=float, default=n.beta, help="NFT guidance strength")
    p.add_argument("--prefix", default=_span(n.prefix), metavar="LO:HI", help="prefix chunks, uniform, inclusive")
    p.add_argument("--future", default=_span(n.future), metavar="LO:HI", help="candidate chunks, uniform, inclusive")
    p.add_argument("--reward", default=",".join(f"{k}={v:g}" for k, v in n.reward.terms.items()),
                   help="metric terms and weights, e.g. lpips_full=1")
    add_train_sigma_argument(p)
    p.add_argument("--weighting", default=n.weighting, choices=["edm", "adaptive"])
    p.add_argument("--objective", default=n.objective, choices=list(OBJECTIVES),
                   help="nft (PersistWorld); ablations: best-of-k (fine-tune on each group's best candidate), "
                        "any-of-k (on random candidates: self-distillation), ground-truth (toward the recorded "
                        "frames from the model's own context, no branching: DAgger-like)")
    p.add_argument("--kl", type=float, default=n.kl)
    p.add_argument("--adv-std", default=n.adv_std, choices=["global", "group"])
    p.add_argument("--adv-clip", type=float, default=n.adv_clip)
    p.add_argument("--loss-samples", type=int, default=n.loss_samples)
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--lora-alpha", type=float, default=16.0)
    p.add_argument("--num-steps", type=int, default=None, help="sampler steps of the rollouts (default the model's)")
    p.add_argument("--steps", type=int, default=200, help="iterations (optimiser steps)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="branch points (groups) per iteration; rows rolled out together for ground-truth")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--ema", type=float, default=0.9, help="EMA of the adapters (DiffusionNFT: 0.9)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=t.threads)
    p.add_argument("--save-minutes", type=float, default=t.save_minutes)
    p.add_argument("--device", default="cpu")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--export", default=None, metavar="DIR", help="write the adapters from the checkpoint and exit")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=main)


def _span(pair: tuple[int, int]) -> str:
    return f"{pair[0]}:{pair[1]}"


def _parse_span(text: str, flag: str) -> tuple[int, int]:
    lo, sep, hi = text.partition(":")
    if not sep or not lo.isdigit() or not hi.isdigit():
        raise PwbenchError(f"--{flag} must be LO:HI (chunks), got {text!r}")
    return int(lo), int(hi)


def nft_config(args: argparse.Namespace):
    from pwbench.rl.recipe import NFTConfig
    from pwbench.rl.reward import RewardSpec

    return NFTConfig(k=args.k, prefix=_parse_span(args.prefix, "prefix"), future=_parse_span(args.future, "future"),
                     beta=args.beta, weighting=args.weighting, kl=args.kl, adv_clip=args.adv_clip,
                     adv_std=args.adv_std, loss_samples=args.loss_samples, reward=RewardSpec.parse(args.reward),
                     objective=args.objective)


def main(args: argparse.Namespace) -> int:
    """Post-train (or export); under ``torchrun`` every process is one data-parallel replica."""
    from pwbench import dist

    if args.export:
        print(json.dumps(export(Path(args.out), Path(args.export)), indent=1))
        return 0
    with dist.process_group(args.device) as rank:
        return _posttrain(args, rank)


def _posttrain(args: argparse.Namespace, rank) -> int:
    import torch

    from pwbench import dist
    from pwbench.data.tasks import get_task
    from pwbench.data.train_split import default_train_dir, load_episodes, validation_split
    from pwbench.metrics import FrameScorer
    from pwbench.rl.protocol import BRANCHABLES
    from pwbench.rl.recipe import PersistWorldTask
    from pwbench.train.cli import train_config
    from pwbench.train.loop import read_checkpoint, train

    out = Path(args.out)
    try:
        nft = nft_config(args)
        config = train_config(args)  # the same flags mean the same settings as in `pwbench train`
    except ValueError as err:
        raise PwbenchError(str(err)) from err
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    task = get_task(args.task)
    device = f"cuda:{rank.local_rank}" if args.device == "cuda" and rank.world_size > 1 else args.device
    if ":" in device:
        torch.cuda.set_device(torch.device(device))
    factory = BRANCHABLES.resolve(args.model).load()
    world, base = factory(task, device=device, weights=args.weights, lora_rank=args.lora_rank,
                          lora_alpha=args.lora_alpha, num_steps=args.num_steps)
    data = Path(args.data) if args.data else default_train_dir(args.task)
    episodes = []
    for turn in (True, False):  # the main rank decodes and caches first; the others then read its cache
        if rank.is_main == turn:
            episodes = load_episodes(data, out / "cache", tuple(task.resolution), args.max_episodes,
                                     progress=not args.quiet)
        dist.barrier()
    train_ids, val_ids = validation_split([e.index for e in episodes], args.val_episodes)
    episodes = [e for e in episodes if e.index in set(train_ids)]
    facts = {"method": "persistworld", "model": args.model, "task": task.name, "base": base,
             "lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha, "num_steps": args.num_steps,
             "train_episodes": train_ids, "validation_episodes": val_ids, "data": str(data),
             "world_size": rank.world_size}
    ckpt = read_checkpoint(out) if args.resume else None
    if ckpt is not None:
        changed = sorted(k for k in (set(facts) | set(ckpt["facts"])) - {"nft"}
                         if ckpt["facts"].get(k) != facts.get(k))
        if changed or ckpt["facts"].get("nft") != nft.as_dict():
            raise PwbenchError(f"cannot resume {out}: the recipe differs ({', '.join(changed) or 'nft settings'})")
    rl_task = PersistWorldTask(f"persistworld-{args.model}-{task.name}", world, episodes, nft,
                               FrameScorer(device=device), facts, train_sigma=config.sigma_distribution())
    state = train(rl_task, config, out, resume=ckpt, progress=not args.quiet)
    if rank.is_main:
        from pwbench.train.plot import plot_metrics

        plot_metrics(out / "metrics.jsonl", out / "posttraining.png", rl_task.name)
        print(f"saved {out / 'checkpoint.pt'} at step {state.step} ({state.seconds / 60:.1f} min, "
              f"{rank.world_size} process{'es' if rank.world_size > 1 else ''})")
    return 0


def export(out: Path, dest: Path) -> dict[str, Any]:
    """The adapters' EMA of ``out/checkpoint.pt`` -> ``dest/adapter.safetensors`` + facts + plot."""
    from pwbench.rl.adapters import save_adapters
    from pwbench.train.loop import read_checkpoint
    from pwbench.train.plot import plot_metrics

    ckpt = read_checkpoint(out)
    if ckpt is None:
        raise PwbenchError(f"no checkpoint.pt in {out}")
    tensors = {k.removeprefix("model."): v for k, v in ckpt["ema"].items()}
    tc = ckpt["config"]
    facts = dict(ckpt["facts"]) | {"steps": ckpt["step"], "train_seconds": ckpt["seconds"], "train": tc,
                                   "num_adapter_parameters": sum(v.numel() for v in tensors.values())}
    save_adapters(tensors, dest, facts)
    plot_metrics(out / "metrics.jsonl", dest / "posttraining.png", f"{ckpt['task']} ({ckpt['step']} iterations)")
    (dest / "posttraining.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    return {k: v for k, v in facts.items() if k not in ("train_episodes", "validation_episodes")}
