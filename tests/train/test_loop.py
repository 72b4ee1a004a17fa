"""The shared training loop: bit-exact resume, EMA, warm-up, refused resumes, hooks honoured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pwbench.errors import PwbenchError
from pwbench.train.config import TrainConfig
from pwbench.train.loop import ema_state_dict, read_checkpoint, train


class ToyTask:
    """Noisy regression: batches from the numpy rng, noise from the torch generator, one frozen layer."""

    name = "toy"

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.module = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.module[0].requires_grad_(False)  # frozen: must never change
        self.seen: list[float] = []

    def trainable(self):
        return [(n, p) for n, p in self.module.named_parameters() if n.startswith("2.")]

    def batch(self, rng: np.random.Generator, size: int):
        x = torch.from_numpy(rng.normal(size=(size, 4)).astype(np.float32))
        return x, x.sum(1, keepdim=True)

    def loss(self, batch, generator: torch.Generator) -> torch.Tensor:
        x, y = batch
        x = x + 0.1 * torch.randn(x.shape, generator=generator)
        self.seen.append(float(x.sum()))
        return ((self.module(x) - y) ** 2).mean()

    def facts(self):
        return {"kind": "toy"}


def _config(**kw) -> TrainConfig:
    return TrainConfig(**{"steps": 6, "batch_size": 3, "lr": 1e-2, "warmup": 2, "ema_decay": 0.9, **kw})


def test_resume_is_bit_exact(tmp_path: Path) -> None:
    straight = ToyTask()
    train(straight, _config(), tmp_path / "a", progress=False)
    split = ToyTask()
    train(split, _config(steps=3), tmp_path / "b", progress=False)
    resumed = ToyTask()  # a fresh process: new module, new generators, state only from the file
    state = train(resumed, _config(), tmp_path / "b", resume=read_checkpoint(tmp_path / "b"), progress=False)
    assert state.step == 6
    assert resumed.seen == straight.seen[3:]  # the same batches and noise after the break
    a, b = read_checkpoint(tmp_path / "a"), read_checkpoint(tmp_path / "b")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["ema"]:
        assert torch.equal(a["ema"][key], b["ema"][key]), key
    assert a["losses"] == b["losses"] and a["opt"]["state"][0]["step"] == b["opt"]["state"][0]["step"]
    assert torch.equal(a["noise_rng"], b["noise_rng"]) and a["np_rng"] == b["np_rng"]


def test_frozen_parameters_stay_and_ema_replaces_trainables(tmp_path: Path) -> None:
    task = ToyTask()
    before = {k: v.clone() for k, v in task.module.state_dict().items()}
    train(task, _config(), tmp_path, progress=False)
    ckpt = read_checkpoint(tmp_path)
    assert torch.equal(ckpt["model"]["0.weight"], before["0.weight"])
    assert not torch.equal(ckpt["model"]["2.weight"], before["2.weight"])
    ema = ema_state_dict(task.module, ckpt)
    assert set(ckpt["ema"]) == {"2.weight", "2.bias"}
    assert torch.equal(ema["2.weight"], ckpt["ema"]["2.weight"]) and torch.equal(ema["0.weight"], before["0.weight"])
    assert ckpt["facts"] == {"kind": "toy"} and (tmp_path / "loss.png").is_file()


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    train(ToyTask(), _config(steps=2), tmp_path, progress=False)
    ckpt = read_checkpoint(tmp_path)
    with pytest.raises(PwbenchError, match="lr 0.01 -> 0.02"):
        train(ToyTask(), _config(lr=2e-2), tmp_path, resume=ckpt, progress=False)
    train(ToyTask(), _config(steps=3, minutes=5.0), tmp_path, resume=ckpt, progress=False)  # budget may change


def test_non_finite_loss_stops_with_a_named_error(tmp_path: Path) -> None:
    task = ToyTask()
    task.loss = lambda batch, generator: torch.tensor(float("nan"), requires_grad=True)
    with pytest.raises(PwbenchError, match="toy: non-finite loss"):
        train(task, _config(), tmp_path, progress=False)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"stepz": 3})
    assert TrainConfig.from_dict(_config().as_dict()) == _config()
