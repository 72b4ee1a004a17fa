"""Data-parallel training over torch.distributed ranks (``torchrun --nproc-per-node N``).

Every rank holds the whole model and draws its own batches and noise (numpy and torch generators
seeded from (seed, rank)); after each backward the gradients are averaged across ranks, so all
ranks take the same optimiser step and stay identical (rank 0's initial weights are broadcast
first). Decisions that end or checkpoint a run (the time budget, the save interval) are agreed by
all ranks, and a checkpoint holds every rank's generator states: it resumes bit-exactly with the
same number of processes, and is refused with another. With one process nothing here does
anything, so single-process runs (and their checkpoints) are exactly as before.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


class Replicas:
    def __init__(self) -> None:
        d = _dist()
        self.world = d.get_world_size() if d else 1
        self.rank = d.get_rank() if d else 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def numpy_seed(self, seed: int) -> int | list[int]:
        return seed if self.world == 1 else [seed, self.rank]

    def torch_seed(self, seed: int) -> int:
        if self.world == 1:
            return seed
        return int(hashlib.sha256(f"{seed}/{self.rank}".encode()).hexdigest()[:15], 16)

    def sync_module(self, module: nn.Module) -> None:
        """Every rank starts from rank 0's parameters and buffers."""
        if self.world == 1:
            return
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                _dist().broadcast(t.data, 0)

    def average_grads(self, params: list[nn.Parameter]) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            _dist().all_reduce(p.grad)
            p.grad.div_(self.world)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Scalars averaged over ranks (the same keys on every rank)."""
        if self.world == 1 or not values:
            return values
        keys = sorted(values)
        t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        _dist().all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t.tolist(), strict=True)}

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag true on any rank (rank-local clocks differ; decisions must not)."""
        if self.world == 1:
            return flags
        t = torch.tensor([float(f) for f in flags])
        _dist().all_reduce(t, op=_dist().ReduceOp.MAX)
        return tuple(bool(v) for v in t.tolist())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (for the checkpoint's generator states), in rank order."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        _dist().all_gather_object(out, obj)
        return out
