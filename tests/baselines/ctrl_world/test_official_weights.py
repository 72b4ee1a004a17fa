"""Without the official checkpoint (offline, empty cache) the error says what to download."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CODE = """
from baselines.ctrl_world.adapter import build
from baselines.ctrl_world.checkpoint import WeightsMissing
from pwbench.protocol import TASKS
try:
    build(TASKS["droid"], device="cpu")
except WeightsMissing as err:
    print(err)
else:
    raise SystemExit("no error")
"""


def test_missing_official_weights_names_hub_ids_and_command(tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    env.pop("HF_HUB_CACHE", None)
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", CODE], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    msg = out.stdout
    for needle in ("yjguo/Ctrl-World", "checkpoint-10000.pt", "stabilityai/stable-video-diffusion-img2vid",
                   "openai/clip-vit-base-patch32", "hf download yjguo/Ctrl-World checkpoint-10000.pt"):
        assert needle in msg, f"{needle!r} missing from: {msg}"
