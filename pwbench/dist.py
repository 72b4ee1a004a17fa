"""Sharding clips over torch.distributed ranks (``torchrun --nproc-per-node N -m pwbench run``).

Each clip belongs to rank ``sha256(clip_id) mod world_size``: a stable function of the clip id,
so a restart with another process count still finds every finished record (they live in one
shared run folder) and resumes instead of redoing work.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, clip_id: str) -> bool:
        return shard_of(clip_id, self.world_size) == self.rank


def shard_of(clip_id: str, world_size: int) -> int:
    return int(hashlib.sha256(clip_id.encode()).hexdigest()[:8], 16) % world_size


def from_env() -> Rank:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Rank(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def process_group(device: str) -> Iterator[Rank]:
    """Join the torchrun process group when launched by torchrun; a no-op otherwise."""
    rank = from_env()
    if rank.world_size == 1:
        yield rank
        return
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield rank
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
