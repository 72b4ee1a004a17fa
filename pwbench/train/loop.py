"""The training loop: AdamW + warm-up, EMA, clipping, atomic bit-exact checkpoints, loss plot.

Everything random in a step comes from two generators the loop owns and checkpoints: a numpy
``Generator`` for the batch draw (``TrainTask.batch``) and a ``torch.Generator`` for the noise
(``TrainTask.loss``). ``checkpoint.pt`` holds the model, the EMA, the optimiser, both generator
states, torch's global RNG, the step, the loss history and the ``TrainConfig``; it is written
temp-then-rename every ``save_minutes`` and at the end, and read with ``weights_only=True``.
Resuming from it continues the same sequence of batches, noise and updates bit for bit (on CPU;
``tests/train/test_loop.py`` compares the parameters of a split run with an unbroken one).

A task may also define ``after_step(step) -> dict`` (called after each optimiser step, e.g. an
RL task's old-policy update); the scalars it returns are appended to ``metrics.jsonl``, one line
per step, cut back to the checkpoint's step on resume so the log matches the weights. A caller
may pass one more such hook (``train(..., after_step=...)``, e.g. the perceptual term's part
logger, which belongs to the loss, not to the task); both rows go into the same line.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from pwbench.errors import PwbenchError
from pwbench.io import atomic_write_bytes
from pwbench.train.config import TrainConfig
from pwbench.train.parallel import Replicas
from pwbench.train.plot import plot_losses

CHECKPOINT = "checkpoint.pt"
METRICS_LOG = "metrics.jsonl"


class TrainTask(Protocol):
    """What a model family hands the loop (the hooks)."""

    name: str
    module: nn.Module  # the whole model; its state dict is checkpointed

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters the optimiser updates (everything else stays frozen)."""

    def batch(self, rng: np.random.Generator, size: int) -> Any:
        """One batch, drawn only from ``rng`` (the loop checkpoints its state)."""

    def loss(self, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """Scalar loss; all noise from ``generator``."""

    def facts(self) -> dict[str, Any]:
        """JSON-able facts about the data and fitted statistics, stored in the checkpoint."""


@dataclass
class TrainState:
    step: int
    seconds: float
    losses: list[float]


def read_checkpoint(out: str | Path) -> dict[str, Any] | None:
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def ema_state_dict(module: nn.Module, ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The module's state dict with the trainable parameters replaced by their EMA."""
    state = dict(ckpt["model"])
    state.update(ckpt["ema"])
    return state


def train(task: TrainTask, config: TrainConfig, out: str | Path, resume: dict[str, Any] | None = None,
          progress: bool = True, after_step: Callable[[int], dict[str, float]] | None = None) -> TrainState:
    """Train ``task`` until ``config.steps`` (or ``config.minutes``); returns the final state.

    ``resume``: a checkpoint from :func:`read_checkpoint` of the same run (its settings must
    match, except the step/time budget). The module must already hold the checkpoint's weights
    or be freshly initialised; the loop loads them again to be sure. ``after_step``: a hook run
    after the task's own (module docstring).
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    replicas = Replicas()
    module = task.module
    replicas.sync_module(module)
    named = task.trainable()
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    ema = {n: p.detach().clone() for n, p in named}
    rng = np.random.default_rng(replicas.numpy_seed(config.seed))
    gen = torch.Generator(device=config.device).manual_seed(replicas.torch_seed(config.seed))
    state = TrainState(0, 0.0, [])
    if resume is not None:
        diff = TrainConfig.from_dict(resume["config"]).differences(config)
        if diff:
            raise PwbenchError(f"cannot resume {out / CHECKPOINT}: settings differ "
                               + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items()))
        if resume["task"] != task.name:
            raise PwbenchError(f"cannot resume {out / CHECKPOINT}: it trains {resume['task']!r}, not {task.name!r}")
        if resume.get("world_size", 1) != replicas.world:
            raise PwbenchError(f"cannot resume {out / CHECKPOINT}: it was written by {resume.get('world_size', 1)} "
                               f"processes, this run has {replicas.world} (resume with the same count)")
        module.load_state_dict(resume["model"])
        opt.load_state_dict(resume["opt"])
        ema = {n: t.to(config.device) for n, t in resume["ema"].items()}
        rngs = resume["rng_per_rank"][replicas.rank] if replicas.world > 1 else resume
        rng.bit_generator.state = rngs["np_rng"]
        gen.set_state(rngs["noise_rng"])
        torch.set_rng_state(rngs["torch_rng"])
        state = TrainState(resume["step"], resume["seconds"], list(resume["losses"]))

    def save() -> None:  # collective: every rank calls it, rank 0 writes
        rngs = {"np_rng": rng.bit_generator.state, "noise_rng": gen.get_state(), "torch_rng": torch.get_rng_state()}
        every = replicas.gather(rngs)
        if not replicas.is_main:
            return
        snap = {"task": task.name, "config": config.as_dict(), "facts": task.facts(),
                "model": module.state_dict(), "ema": ema, "opt": opt.state_dict(), "step": state.step,
                "seconds": state.seconds, "losses": state.losses, **rngs}
        if replicas.world > 1:
            snap.update(world_size=replicas.world, rng_per_rank=every)
        buf = io.BytesIO()
        torch.save(snap, buf)
        atomic_write_bytes(out / CHECKPOINT, buf.getvalue())
        plot_losses(state.losses, out / "loss.png", f"{task.name} ({state.step} steps)")

    after_step = _chain(getattr(task, "after_step", None), after_step)
    log = _MetricsLog(out / METRICS_LOG, state.step) if after_step is not None and replicas.is_main else None
    module.train()
    t_save = time.monotonic()
    t0 = time.monotonic() - state.seconds
    bar = tqdm(total=config.steps, initial=state.step, desc=f"train {task.name}", dynamic_ncols=True,
               disable=not progress or not replicas.is_main)
    while state.step < config.steps:
        over_time = config.minutes is not None and time.monotonic() - t0 > config.minutes * 60
        if replicas.any(over_time)[0]:
            break
        for group in opt.param_groups:
            group["lr"] = config.lr * min(1.0, (state.step + 1) / config.warmup)
        loss = task.loss(task.batch(rng, config.batch_size), gen)
        if not torch.isfinite(loss):
            raise PwbenchError(f"{task.name}: non-finite loss {loss.item()} at step {state.step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        replicas.average_grads(params)
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        decay = min(config.ema_decay, (1 + state.step) / (10 + state.step))
        with torch.no_grad():
            for n, p in named:
                ema[n].lerp_(p.detach(), 1 - decay)
        state.step += 1
        state.losses.append(replicas.mean({"loss": float(loss.item())})["loss"])
        if after_step is not None:
            row = replicas.mean(after_step(state.step))
            if log is not None:
                log.append({"step": state.step, "loss": state.losses[-1], **row})
        state.seconds = time.monotonic() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(state.losses[-50:]):.4f}")
        if replicas.any(time.monotonic() - t_save > config.save_minutes * 60)[0]:
            save()
            t_save = time.monotonic()
    bar.close()
    save()
    return state


class _MetricsLog:
    """``metrics.jsonl``, kept in step with the checkpoint: lines past ``step`` (written after the
    last save by a run that was then killed) are dropped when a run resumes."""

    def __init__(self, path: Path, step: int) -> None:
        self.path = path
        kept = []
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    if json.loads(line)["step"] <= step:
                        kept.append(line)
                except (json.JSONDecodeError, KeyError, TypeError):
                    break  # a torn last line
        atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode())

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")


def _chain(*hooks: Callable[[int], dict[str, float]] | None) -> Callable[[int], dict[str, float]] | None:
    """One ``after_step`` hook running every given one in order, their rows merged (None: none given)."""
    present = [h for h in hooks if h is not None]
    if not present:
        return None

    def run(step: int) -> dict[str, float]:
        row: dict[str, float] = {}
        for hook in present:
            row.update(hook(step))
        return row

    return run
