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
