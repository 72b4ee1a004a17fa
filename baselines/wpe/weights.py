"""The shipped small WPE: safetensors shards in ``weights/droid-sim/`` (each < 20 MB), with the
fitted statistics (pose percentiles and scales, latent scale) and training facts in the metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines.wpe.world import SMALL, SmallWPEConfig, WPEWorld
from pwbench.models.shards import load_small_model

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"
TRAIN_COMMAND = "pwbench train wpe --task droid-sim"


def load_small(folder: str | Path | None = None, config: SmallWPEConfig = SMALL,
               device: str = "cpu") -> tuple[WPEWorld, dict[str, Any]]:
    return load_small_model(lambda: WPEWorld(config), folder or SMALL_WEIGHTS_DIR, "small WPE", TRAIN_COMMAND, device)
