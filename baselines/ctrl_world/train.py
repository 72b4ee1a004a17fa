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
from baselines.ctrl_world.checkpoint import WeightsMismatch, read_small, save_small
from baselines.ctrl_world.config import CONFIGS, CtrlWorldConfig
from baselines.ctrl_world.loss import training_loss
from baselines.ctrl_world.model import CtrlWorld
from baselines.ctrl_world.windows import CHUNK_STRIDE, window_pattern
from pwbench.data.train_split import TrainEpisode, default_train_dir, load_episodes, validation_split
from pwbench.diffusion.poses import delta_scale_from_episodes
from pwbench.train.config import TrainConfig
from pwbench.train.loop import ema_state_dict, read_checkpoint, train
from pwbench.train.plot import plot_losses
from pwbench.train.windows import EncodedEpisode, WindowSampler

TRAINED_MODULES = ("unet.", "action_encoder.", "pose_map.")
ADDED_MODULES = ("pose_map.",)  # zero-initialised additions a warm start may lack
FITTED_FACTS = ("pca_variance", "residual_std_raw", "pose_q01", "pose_q99", "stats_source", "pose_delta_scale",
                "scaling_factor", "train_episodes", "validation_episodes", "data")


def parse(argv: list[str]) -> argparse.Namespace:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="pwbench train ctrl-world", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"], help="only the small variant trains here")
    p.add_argument("--data", default=None, help="droid-sim train split (default $PWBENCH_CACHE/droid-sim/train)")
    p.add_argument("--out", default="runs/ctrl-world-droid-sim", help="checkpoint, episode cache, loss plot")
    p.add_argument("--val-episodes", type=int, default=20, help="last episodes held out for validation")
    p.add_argument("--max-episodes", type=int, default=None, help="use only the first N episodes of the split")
    for name in ("steps", "batch_size", "warmup", "seed", "threads"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "ema", "weight_decay", "grad_clip", "save_minutes"):
        field = "ema_decay" if name == "ema" else name
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, field))
    p.add_argument("--minutes", type=float, default=None, help="stop (and save) after this training wall time")
    p.add_argument("--device", default="cpu", help="cpu or cuda (resume is bit-exact on cpu)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    p.add_argument("--init-from", default=None, metavar="DIR",
                   help="warm-start a new run from exported safetensors (their statistics and split too)")
    p.add_argument("--export", default=None, metavar="DIR", help="write safetensors from the checkpoint and exit")
    return p.parse_args(argv)


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(steps=args.steps, minutes=args.minutes, batch_size=args.batch_size, lr=args.lr,
                       warmup=args.warmup, weight_decay=args.weight_decay, ema_decay=args.ema,
                       grad_clip=args.grad_clip, seed=args.seed, threads=args.threads, device=args.device,
                       save_minutes=args.save_minutes)


def fit_statistics(model: CtrlWorld, episodes: list[TrainEpisode], seed: int) -> dict[str, Any]:
    """Fit the codec and pose statistics on the training episodes (closed form, deterministic)."""
    cfg = model.config
    frames = np.concatenate([e.frames for e in episodes]).reshape(-1, *episodes[0].frames.shape[2:])
    kept = model.vae.fit(frames, seed=seed)
    facts: dict[str, Any] = {"pca_variance": kept}
    if cfg.residual:  # scale latents so the diffused residual has std sigma_data
        model.vae.scaling_factor.fill_(1.0)
        diffs = []
        for e in episodes[:: max(1, len(episodes) // 40)]:
            z = _encode(model, e)
            diffs += [(z[k:] - z[:-k]).flatten() for k in range(1, cfg.num_frames)]
        raw_std = float(torch.cat(diffs).double().std())
        model.vae.scaling_factor.fill_(cfg.sigma_data / raw_std)
        facts.update(residual_std_raw=raw_std)
    poses = [e.pose for e in episodes]
    allp = np.concatenate(poses).astype(np.float64)
    facts.update(pose_q01=np.percentile(allp, 1, axis=0).tolist(), pose_q99=np.percentile(allp, 99, axis=0).tolist(),
                 stats_source="train episodes (5 Hz)")
    if cfg.pose_features == "continuous":
        facts["pose_delta_scale"] = delta_scale_from_episodes(poses, CHUNK_STRIDE).tolist()
    facts["scaling_factor"] = float(model.vae.scaling_factor)
    return facts


def _encode(model: CtrlWorld, ep: TrainEpisode) -> torch.Tensor:
    dev = model.unet.conv_in.weight.device
    pix = torch.from_numpy(ep.frames).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
    return torch.cat([model.encode_views(c.to(dev)).cpu() for c in pix.split(64)])


def warm_start(model: CtrlWorld, folder: Path, train_ids: list[int], val_ids: list[int]) -> dict[str, Any]:
    """Load exported weights into ``model``; returns the facts of the new run."""
    state, meta = read_small(folder)
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith(ADDED_MODULES)] + list(unexpected)
    if bad:
        raise WeightsMismatch(f"cannot warm-start {model.config.name} from {folder}: {len(bad)} keys do not fit "
                              f"(first: {bad[0]}); only {', '.join(ADDED_MODULES)} may be new")
    if meta.get("train_episodes") != train_ids or meta.get("validation_episodes") != val_ids:
        raise WeightsMismatch(f"{folder} was trained on another train/validation split; warm-start with the "
                              "same --data, --val-episodes and --max-episodes")
    facts = {k: meta[k] for k in FITTED_FACTS if k in meta}
    parent = {k: meta[k] for k in ("config", "train_steps", "train_seconds", "final_loss", "seed", "batch_size",
                                   "lr", "init_from") if k in meta}
    facts["init_from"] = parent | {"weights": str(folder), "new_modules": sorted({k.split(".")[0] for k in missing})}
    return facts


def pose_encoder(cfg: CtrlWorldConfig, facts: dict[str, Any]) -> PoseEncoder:
    return PoseEncoder(cfg.pose_features, facts["pose_q01"], facts["pose_q99"], facts.get("pose_delta_scale"))


class CtrlWorldTrainTask:
    """The hooks :func:`pwbench.train.loop.train` needs, for the Ctrl-World family."""

    def __init__(self, model: CtrlWorld, sampler: WindowSampler, facts: dict[str, Any], device: str) -> None:
        self.name = model.config.name
        self.module = model
        self.sampler = sampler
        self.poses = pose_encoder(model.config, facts)
        self._facts = facts
        self.device = device

    def trainable(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith(TRAINED_MODULES)]

    def batch(self, rng: np.random.Generator, size: int):
        w = self.sampler.draw(rng, size)
        nh = self.module.config.num_history
        feats = self.poses(w.poses, w.poses[:, nh])
        return tuple(t.to(self.device) for t in (w.latents, feats, w.text))

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        latents, feats, text = batch
        return training_loss(self.module, latents, feats, text, generator=generator)

    def facts(self) -> dict[str, Any]:
        return self._facts


def export(out: Path, dest: Path) -> dict[str, Any]:
    """EMA weights of ``out/checkpoint.pt`` -> ``dest`` safetensors (+ loss plot, facts JSON)."""
    ckpt = read_checkpoint(out)
    if ckpt is None:
        raise FileNotFoundError(f"no checkpoint.pt in {out}")
    cfg = CONFIGS["droid-sim"]
    model = CtrlWorld(cfg)
    model.load_state_dict(ema_state_dict(model, ckpt))
    tc = ckpt["config"]
    facts = dict(ckpt["facts"])
    facts.update(config=cfg.name, train_steps=ckpt["step"], train_seconds=ckpt["seconds"],
                 final_loss=float(np.mean(ckpt["losses"][-100:])) if ckpt["losses"] else float("nan"),
                 seed=tc["seed"], batch_size=tc["batch_size"], lr=tc["lr"], ema_decay=tc["ema_decay"],
                 warmup=tc["warmup"], weight_decay=tc["weight_decay"], grad_clip=tc["grad_clip"],
                 threads=tc["threads"], num_steps_default=cfg.num_steps,
                 num_parameters=sum(p.numel() for p in model.parameters()))
    paths = save_small(model, dest, facts)
    plot_losses(ckpt["losses"], dest / "loss.png", f"ctrl-world small, droid-sim train ({ckpt['step']} steps)",
                ylabel="EDM x0 loss (weighted)")
    (dest / "training.json").write_text(json.dumps(facts | {"files": [p.name for p in paths]}, indent=1) + "\n")
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    out = Path(args.out)
    if args.export:
        print(json.dumps(export(out, Path(args.export)), indent=1))
        return 0
    config = train_config(args)
    torch.set_num_threads(config.threads)
    cfg = CONFIGS[args.task]
    ckpt = read_checkpoint(out) if args.resume else None
    data = Path(args.data) if args.data else default_train_dir(args.task)
    torch.manual_seed(config.seed)
    model = CtrlWorld(cfg)
    episodes = load_episodes(data, out / "cache", (cfg.view_height, cfg.view_width), args.max_episodes)
    train_ids, val_ids = validation_split([e.index for e in episodes], args.val_episodes)
    episodes = [e for e in episodes if e.index in set(train_ids)]
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        facts = ckpt["facts"]
    elif args.init_from:
        facts = warm_start(model, Path(args.init_from), train_ids, val_ids)
    else:
        facts = fit_statistics(model, episodes, config.seed)
        facts.update(train_episodes=train_ids, validation_episodes=val_ids, data=str(data))
    model.to(config.device)
    encoded = [EncodedEpisode(e.index, _encode(model, e), torch.from_numpy(e.pose),
                              model.text_embeds([e.instruction])[0].cpu()) for e in episodes]
    del episodes
    task = CtrlWorldTrainTask(model, WindowSampler(encoded, window_pattern(cfg)), facts, config.device)
    state = train(task, config, out, resume=ckpt)
    print(f"saved {out / 'checkpoint.pt'} at step {state.step} ({state.seconds / 60:.1f} min, "
          f"{len(encoded)} episodes)")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
