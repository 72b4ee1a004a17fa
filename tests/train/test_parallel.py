"""Data-parallel training with torchrun (2 CPU processes, gloo): ranks stay identical, each rank
draws its own batches, and a checkpoint resumes bit-exactly with the same process count only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_loop import ToyTask, _config

from pwbench.errors import PwbenchError
from pwbench.train.loop import read_checkpoint, train

HERE = Path(__file__).parent


def _torchrun(out: Path, steps: int, resume: bool = False) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent.parent)]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(HERE / "ddp_toy.py"),
           str(out), str(steps), *(["resume"] if resume else [])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _params(out: Path, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(out / f"rank{rank}.pt", weights_only=True)


def test_two_ranks_stay_identical_and_resume_bit_exactly(tmp_path):
    _torchrun(tmp_path / "whole", 6)
    a, b = _params(tmp_path / "whole", 0), _params(tmp_path / "whole", 1)
    assert all(torch.equal(a[k], b[k]) for k in a)  # one optimiser step on every rank
    ckpt = read_checkpoint(tmp_path / "whole")
    assert ckpt["world_size"] == 2 and len(ckpt["rng_per_rank"]) == 2
    assert ckpt["rng_per_rank"][0]["np_rng"] != ckpt["rng_per_rank"][1]["np_rng"]  # each rank its own data
    single = ToyTask()
    train(single, _config(steps=6), tmp_path / "single", progress=False)
    assert not all(torch.equal(a[k], p.detach()) for k, p in single.trainable())  # two ranks saw more data

    _torchrun(tmp_path / "split", 3)
    _torchrun(tmp_path / "split", 6, resume=True)
    c = _params(tmp_path / "split", 0)
    assert all(torch.equal(a[k], c[k]) for k in a)

    with pytest.raises(PwbenchError, match="written by 2 processes, this run has 1"):
        train(ToyTask(), _config(steps=8), tmp_path / "split", resume=read_checkpoint(tmp_path / "split"),
              progress=False)
