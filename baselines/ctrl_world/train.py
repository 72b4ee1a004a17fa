"""``pwbench train ctrl-world --task droid-sim``: teacher-forced training of the small variant.

The objective is the original's (:func:`baselines.ctrl_world.edm.training_loss`): EDM x0 loss on
the 5 chunk slots, history latents noised with sigma_h ~ N(0, 0.3), condition-frame noise
U(0, 0.2), all tokens zeroed 5% of the time for CFG. Samples follow the original's DROID loader:
a random current frame, chunk frames ``skip`` apart (skip 1 or 2), history ``4*skip`` apart
(all equal to the current frame with probability 0.15), indices clipped to the episode.
The UNet and action encoder train; the fixed autoencoder is fitted once (closed form) and the
tiny text tower stays at its seeded initialisation, frozen like CLIP in the original.

Resumable: ``checkpoint.pt`` in ``--out`` is rewritten atomically every ``--save-minutes``
and at the end; ``--resume`` continues from it bit-for-bit in data order and noise. The data
folder is rescanned every ``--rescan-minutes`` so a train split still being generated adds
episodes as they appear. ``--export DIR`` writes the EMA weights as safetensors + loss plot.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.ctrl_world.action_encoder import normalize_bound
from baselines.ctrl_world.checkpoint import save_small
from baselines.ctrl_world.config import CONFIGS, CtrlWorldConfig
from baselines.ctrl_world.data import CachedEpisode, load_episodes, pose_percentiles
from baselines.ctrl_world.edm import training_loss
from baselines.ctrl_world.model import CtrlWorld

DEFAULT_DATA = os.environ.get("PWBENCH_CTRL_WORLD_TRAIN_DATA", "data/droid-sim-train")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pwbench train ctrl-world", description=__doc__.splitlines()[0])
    p.add_argument("--task", default="droid-sim", choices=["droid-sim"], help="only the small variant trains here")
    p.add_argument("--data", default=DEFAULT_DATA, help="droid-sim train split (LeRobot v2.1 folder)")
    p.add_argument("--out", default="runs/ctrl-world-droid-sim", help="checkpoint, cache, logs")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--minutes", type=float, default=None, help="stop (and save) after this wall time")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu or cuda (resume is bit-exact on cpu only)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--save-minutes", type=float, default=3.0)
    p.add_argument("--rescan-minutes", type=float, default=8.0)
    p.add_argument("--max-episodes", type=int, default=None)
    p.add_argument("--export", default=None, metavar="DIR", help="write safetensors from the checkpoint and exit")
    return p.parse_args(argv)


class Sampler:
    """Draws teacher-forced training windows from pre-encoded episodes."""

    def __init__(self, cfg: CtrlWorldConfig, q01: np.ndarray, q99: np.ndarray) -> None:
        self.cfg = cfg
        self.q01 = torch.as_tensor(q01, dtype=torch.float32)
        self.q99 = torch.as_tensor(q99, dtype=torch.float32)
        self.latents: list[torch.Tensor] = []  # (T, C, h, w) scaled
        self.poses: list[torch.Tensor] = []  # (T, 7) normalised
        self.text: list[torch.Tensor] = []  # (P,)
        self.indices: list[int] = []

    def add(self, model: CtrlWorld, episodes: list[CachedEpisode]) -> None:
        dev = model.unet.conv_in.weight.device  # latents live on the CPU, batches move to the model
        for ep in episodes:
            if ep.index in self.indices or len(ep.pose) < 2:
                continue
            pix = torch.from_numpy(ep.frames).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0
            self.latents.append(torch.cat([model.encode_views(c.to(dev)).cpu() for c in pix.split(64)]))
            self.poses.append(normalize_bound(torch.from_numpy(ep.pose), self.q01, self.q99))
            self.text.append(model.text_embeds([ep.instruction])[0].cpu())
            self.indices.append(ep.index)

    def batch(self, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        lengths = np.array([len(p) for p in self.poses])
        lat, pos, txt = [], [], []
        for _ in range(size):
            e = int(rng.choice(len(lengths), p=lengths / lengths.sum()))
            t_len = lengths[e]
            now = int(rng.integers(0, t_len - 1))
            skip = int(rng.integers(1, 3))
            skip_his = 0 if rng.random() < 0.15 else 4 * skip
            ids = [now - i * skip_his for i in range(cfg.num_history, 0, -1)] + [now]
            ids += [now + i * skip for i in range(1, cfg.num_frames)]
            ids = np.clip(ids, 0, t_len - 1)
            lat.append(self.latents[e][ids])
            pos.append(self.poses[e][ids])
            txt.append(self.text[e])
        return torch.stack(lat), torch.stack(pos), torch.stack(txt)


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def plot_losses(losses: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.asarray(losses)
    k = max(1, min(100, len(y) // 10))
    smooth = np.convolve(y, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot(np.arange(len(y)), y, alpha=0.25, lw=0.6, label="per step")
    ax.plot(np.arange(k - 1, len(y)), smooth, lw=1.5, label=f"mean of {k}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("EDM x0 loss")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def export(out: Path, dest: Path) -> dict[str, Any]:
    """EMA weights of ``out/checkpoint.pt`` -> ``dest`` safetensors (+ loss plot, facts JSON)."""
    ckpt = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = CONFIGS["droid-sim"]
    model = CtrlWorld(cfg)
    model.load_state_dict(ckpt["model"])
    model.load_state_dict(ckpt["ema"], strict=False)
    facts = {k: ckpt[k] for k in ("train_steps", "train_seconds", "train_episodes", "seed", "batch_size",
                                  "lr", "ema_decay", "threads", "final_loss", "pca_variance", "stats_source")}
    facts.update(config=cfg.name, pose_q01=ckpt["q01"], pose_q99=ckpt["q99"], num_steps_default=cfg.num_steps,
                 num_parameters=sum(p.numel() for p in model.parameters()))
    paths = save_small(model, dest, facts)
    plot_losses(ckpt["losses"], dest / "loss.png", f"ctrl-world small, droid-sim train ({facts['train_steps']} steps)")
    (dest / "training.json").write_text(json.dumps(facts | {"files": [p.name for p in paths]}, indent=1) + "\n")
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse(list(argv or []))
    out = Path(args.out)
    if args.export:
        facts = export(out, Path(args.export))
        print(json.dumps(facts, indent=1))
        return 0
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    out.mkdir(parents=True, exist_ok=True)
    cfg = CONFIGS[args.task]
    ckpt_path = out / "checkpoint.pt"
    resume = args.resume and ckpt_path.is_file()
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True) if resume else None

    torch.manual_seed(args.seed)
    model = CtrlWorld(cfg)
    episodes = load_episodes(args.data, out / "cache", (cfg.view_height, cfg.view_width), args.max_episodes)
    if ckpt:
        model.load_state_dict(ckpt["model"])
        q01, q99, stats_source = np.array(ckpt["q01"]), np.array(ckpt["q99"]), ckpt["stats_source"]
        pca_var = ckpt["pca_variance"]
    else:
        q01, q99, stats_source = pose_percentiles(args.data, episodes)
        pca_var = model.vae.fit(np.concatenate([e.frames for e in episodes]).reshape(-1, *episodes[0].frames.shape[2:]),
                                seed=args.seed)
    sampler = Sampler(cfg, q01, q99)
    model.to(args.device)
    sampler.add(model, episodes)
    del episodes  # only the latents are kept

    params = [p for n, p in model.named_parameters() if n.startswith(("unet.", "action_encoder."))]
    names = [n for n, p in model.named_parameters() if n.startswith(("unet.", "action_encoder."))]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = {n: p.detach().clone() for n, p in zip(names, params, strict=True)}
    step, losses, seconds = 0, [], 0.0
    rng = np.random.default_rng(args.seed)
    if ckpt:
        opt.load_state_dict(ckpt["opt"])
        ema = {n: t.to(args.device) for n, t in ckpt["ema"].items()}
        step, losses, seconds = ckpt["train_steps"], ckpt["losses"], ckpt["train_seconds"]
        rng.bit_generator.state = ckpt["np_rng"]
        torch.set_rng_state(ckpt["torch_rng"])

    def snapshot() -> dict[str, Any]:
        return {"model": model.state_dict(), "ema": ema, "opt": opt.state_dict(), "train_steps": step,
                "losses": losses, "train_seconds": seconds, "np_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "q01": [float(v) for v in q01], "q99": [float(v) for v in q99],
                "stats_source": stats_source, "pca_variance": float(pca_var), "seed": args.seed,
                "batch_size": args.batch_size, "lr": args.lr, "ema_decay": args.ema, "threads": args.threads,
                "train_episodes": list(sampler.indices),
                "final_loss": float(np.mean(losses[-100:])) if losses else float("nan")}

    model.train()
    t_save = t_scan = time.monotonic()
    t0 = time.monotonic() - seconds
    bar = tqdm(total=args.steps, initial=step, desc="ctrl-world train", dynamic_ncols=True)
    while step < args.steps:
        if args.minutes and time.monotonic() - t0 > args.minutes * 60:
            break
        lr = args.lr * min(1.0, (step + 1) / args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        latents, poses, text = (t.to(args.device) for t in sampler.batch(rng, args.batch_size))
        loss = training_loss(model, latents, poses, text)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for n, p in zip(names, params, strict=True):
                ema[n].lerp_(p.detach(), 1 - decay)
        step += 1
        losses.append(loss.item())
        seconds = time.monotonic() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", eps=len(sampler.indices))
        if time.monotonic() - t_scan > args.rescan_minutes * 60:
            new = load_episodes(args.data, out / "cache", (cfg.view_height, cfg.view_width), args.max_episodes,
                                progress=False, skip=set(sampler.indices))
            sampler.add(model, new)
            t_scan = time.monotonic()
        if time.monotonic() - t_save > args.save_minutes * 60:
            _save(ckpt_path, snapshot())
            plot_losses(losses, out / "loss.png", f"ctrl-world small ({step} steps)")
            t_save = time.monotonic()
    bar.close()
    _save(ckpt_path, snapshot())
    plot_losses(losses, out / "loss.png", f"ctrl-world small ({step} steps)")
    print(f"saved {ckpt_path} at step {step} ({seconds / 60:.1f} min, {len(sampler.indices)} episodes)")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
