"""Run under torchrun by test_parallel.py: the loop's toy task, data-parallel over gloo ranks.

argv: OUT STEPS [resume]. Each rank saves its final trainable parameters to OUT/rank<r>.pt."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from test_loop import ToyTask, _config

from pwbench import dist
from pwbench.train.loop import read_checkpoint, train

if __name__ == "__main__":
    out, steps, resume = Path(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3
    with dist.process_group("cpu") as rank:
        task = ToyTask()
        if rank.rank == 1:  # a different init on rank 1: the loop must broadcast rank 0's
            with torch.no_grad():
                for p in task.module.parameters():
                    p.add_(1.0)
        train(task, _config(steps=steps), out, resume=read_checkpoint(out) if resume else None, progress=False)
        torch.save({n: p.detach() for n, p in task.trainable()}, out / f"rank{rank.rank}.pt")
