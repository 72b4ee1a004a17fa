"""The trainer runs, resumes bit-exactly where it stopped, and exports safetensors the adapter loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from baselines.ctrl_world.checkpoint import load_small
from baselines.ctrl_world.train import main


def _args(data: Path, out: Path) -> list[str]:
    return ["--task", "droid-sim", "--data", str(data), "--out", str(out), "--batch-size", "1",
            "--max-episodes", "3", "--val-episodes", "1", "--warmup", "1"]


def test_train_resume_bit_exact_export(tiny_dataset: Path, tmp_path: Path) -> None:
    out, straight = tmp_path / "run", tmp_path / "straight"
    assert main(_args(tiny_dataset, out) + ["--steps", "1"]) == 0
    first = torch.load(out / "checkpoint.pt", weights_only=True)
    assert first["step"] == 1 and len(first["losses"]) == 1
    assert first["facts"]["train_episodes"] == [0, 1] and first["facts"]["validation_episodes"] == [2]
    assert main(_args(tiny_dataset, out) + ["--steps", "2", "--resume"]) == 0
    assert main(_args(tiny_dataset, straight) + ["--steps", "2"]) == 0
    second = torch.load(out / "checkpoint.pt", weights_only=True)
    unbroken = torch.load(straight / "checkpoint.pt", weights_only=True)
    assert second["step"] == 2 and second["losses"] == unbroken["losses"]
    for key, value in unbroken["model"].items():  # a resumed run is the unbroken run, bit for bit
        assert torch.equal(second["model"][key], value), key
    assert (out / "loss.png").is_file()
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    files = sorted(dest.glob("model*.safetensors"))
    assert files and all(f.stat().st_size < 20_000_000 for f in files)
    model, meta = load_small(dest)
    assert meta["train_steps"] == 2 and len(meta["pose_q01"]) == 7 and len(meta["pose_delta_scale"]) == 7
    assert meta["residual_std_raw"] > 0
    assert np.isfinite(meta["final_loss"])
    assert json.loads((dest / "training.json").read_text())["train_steps"] == 2
    assert float(model.vae.scaling_factor) > 0


def test_warm_start_adds_a_zero_pose_map_and_keeps_the_model(tmp_path: Path, tiny_residual_model) -> None:
    import pytest

    from baselines.ctrl_world.checkpoint import save_small
    from baselines.ctrl_world.model import CtrlWorld
    from pwbench.errors import WeightsMismatch
    from pwbench.train.small import warm_start

    cfg = tiny_residual_model.config.with_(pose_map_channels=0)
    torch.manual_seed(0)
    parent = CtrlWorld(cfg).eval()
    torch.nn.init.normal_(parent.unet.conv_out.weight, std=0.1)  # a "trained" output layer
    facts = {"train_episodes": [0, 1], "validation_episodes": [2], "train_steps": 5, "pose_q01": [0.0] * 7}
    save_small(parent, tmp_path / "parent", facts)
    child = CtrlWorld(cfg.with_(pose_map_channels=2, pose_map_hidden=8)).eval()
    new_facts = warm_start(child, tmp_path / "parent", [0, 1], [2])
    assert new_facts["init_from"]["train_steps"] == 5 and new_facts["init_from"]["new_modules"] == ["pose_map"]
    assert new_facts["pose_q01"] == [0.0] * 7
    h, w = cfg.latent_hw
    cur, hist = torch.randn(2, 4, h, w), torch.randn(2, 6, 4, h, w)
    poses, text = torch.randn(2, 11, 17), torch.randn(2, 16)

    def chunk(m):
        return m.predict_chunk(cur, hist, poses, text, torch.Generator().manual_seed(1))

    assert torch.equal(chunk(parent), chunk(child))  # the zero-initialised map changes nothing yet
    with pytest.raises(WeightsMismatch, match="another train/validation split"):
        warm_start(CtrlWorld(cfg), tmp_path / "parent", [0], [1, 2])
    save_small(child, tmp_path / "child", facts)
    with pytest.raises(WeightsMismatch, match="keys do not fit"):  # weights the config lacks
        warm_start(CtrlWorld(cfg), tmp_path / "child", [0, 1], [2])
    with pytest.raises(WeightsMismatch, match=r"size mismatch for pose_map\."):  # a tensor of another shape
        warm_start(CtrlWorld(cfg.with_(pose_map_channels=2, pose_map_hidden=4)), tmp_path / "child", [0, 1], [2])
