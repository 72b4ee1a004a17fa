"""The shipped small IRASim: safetensors shards in ``weights/droid-sim/`` (each < 20 MB), with the
fitted statistics (pose percentiles and scales, latent scale) and training facts in the metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines.irasim.world import SMALL, IRASimWorld, SmallIRASimConfig
from pwbench.models.shards import load_small_model

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"
TRAIN_COMMAND = "pwbench train irasim --task droid-sim"


def load_small(folder: str | Path | None = None, config: SmallIRASimConfig = SMALL,
               device: str = "cpu") -> tuple[IRASimWorld, dict[str, Any]]:
    return load_small_model(lambda: IRASimWorld(config), folder or SMALL_WEIGHTS_DIR, "small IRASim", TRAIN_COMMAND,
                            device)
