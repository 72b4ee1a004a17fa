"""The trainer runs, resumes where it stopped, and exports safetensors the adapter loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from baselines.ctrl_world.checkpoint import load_small
from baselines.ctrl_world.train import main


def test_train_resume_export(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = ["--task", "droid-sim", "--data", str(tiny_dataset), "--out", str(out), "--batch-size", "1",
              "--max-episodes", "2", "--warmup", "1"]
    assert main(common + ["--steps", "1"]) == 0
    first = torch.load(out / "checkpoint.pt", weights_only=False)
    assert first["train_steps"] == 1 and len(first["losses"]) == 1
    assert main(common + ["--steps", "2", "--resume"]) == 0
    second = torch.load(out / "checkpoint.pt", weights_only=False)
    assert second["train_steps"] == 2 and second["losses"][0] == first["losses"][0]
    assert (out / "loss.png").is_file()
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    files = sorted(dest.glob("model*.safetensors"))
    assert files and all(f.stat().st_size < 20_000_000 for f in files)
    model, meta = load_small(dest)
    assert meta["train_steps"] == 2 and len(meta["pose_q01"]) == 7
    assert np.isfinite(meta["final_loss"])
    assert json.loads((dest / "training.json").read_text())["train_steps"] == 2
    assert float(model.vae.scaling_factor) > 0
