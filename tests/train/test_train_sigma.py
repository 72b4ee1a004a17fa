"""``pwbench train MODEL --train-sigma``: a typed run setting that reaches the loss, is refused on
a changed resume, and leaves the configuration the weights load with untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pwbench.diffusion.schedule import LogNormalSigma
from pwbench.train.config import TrainConfig
from pwbench.train.small import with_train_sigma

AROUND_80 = (4.38, 0.5, 20.0, 200.0)


def test_train_sigma_round_trips_and_is_checked() -> None:
    config = TrainConfig(train_sigma=AROUND_80)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert config.sigma_distribution() == LogNormalSigma(4.38, 0.5, 20.0, 200.0)
    assert TrainConfig().sigma_distribution() is None
    assert TrainConfig.from_dict({"steps": 3}).train_sigma is None  # checkpoints older than the field
    assert "train_sigma" in config.differences(TrainConfig())
    for bad in [(4.38, 0.0, 20.0, 200.0), (4.38, 0.5, 200.0, 20.0), (4.38, 0.5, 0.0, 20.0), (4.38, 0.5, 20.0)]:
        with pytest.raises(ValueError, match="train_sigma"):
            TrainConfig(train_sigma=bad)


def test_with_train_sigma_reaches_each_family_config() -> None:
    from baselines.ctrl_world.config import SMALL as CTRL_WORLD
    from baselines.irasim.world import SMALL as IRASIM
    from baselines.wpe.world import SMALL as WPE

    sigma = LogNormalSigma(*AROUND_80)
    assert with_train_sigma(CTRL_WORLD, None) is CTRL_WORLD
    ctrl = with_train_sigma(CTRL_WORLD, sigma)
    assert ctrl.train_sigma == sigma and ctrl.name == CTRL_WORLD.name and ctrl.schedule() == CTRL_WORLD.schedule()
    for config in (IRASIM, WPE):
        changed = with_train_sigma(config, sigma)
        assert changed.recipe.train_sigma == sigma and changed.name == config.name
        assert changed.recipe.schedule() == config.recipe.schedule()  # the sampler is the recipe's


def _args(data: Path, out: Path) -> list[str]:
    return ["--task", "droid-sim", "--data", str(data), "--out", str(out), "--batch-size", "2",
            "--max-episodes", "3", "--val-episodes", "1", "--warmup", "1"]


def test_ctrl_world_trains_at_the_asked_sigma(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    from baselines.ctrl_world.train import main
    from pwbench.errors import PwbenchError

    drawn: list[tuple[LogNormalSigma, torch.Tensor]] = []
    sample = LogNormalSigma.sample

    def spy(self, *args, **kwargs):
        sigma = sample(self, *args, **kwargs)
        drawn.append((self, sigma))
        return sigma

    monkeypatch.setattr(LogNormalSigma, "sample", spy)
    out = tmp_path / "run"
    sigma_args = ["--train-sigma", *map(str, AROUND_80)]
    assert main(_args(tiny_dataset, out) + ["--steps", "2"] + sigma_args) == 0
    asked = LogNormalSigma(*AROUND_80)
    assert drawn and all(dist == asked for dist, _ in drawn)
    assert all(bool(((s >= 20) & (s <= 200)).all()) for _, s in drawn)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["config"]["train_sigma"] == list(AROUND_80)
    with pytest.raises((PwbenchError, ValueError), match="train_sigma"):  # another sigma on resume
        main(_args(tiny_dataset, out) + ["--steps", "3", "--resume", "--train-sigma", "1", "1.6", "0.002", "200"])
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    assert json.loads((dest / "training.json").read_text())["train_sigma"] == list(AROUND_80)
