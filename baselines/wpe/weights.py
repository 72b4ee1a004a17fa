"""The shipped small WPE: safetensors shards in ``weights/droid-sim/`` (each < 20 MB), with the
fitted statistics (pose percentiles and scales, latent scale) and training facts in the metadata.

The metadata names the configuration the weights were trained as (``config``: with or without a
pose map), so the loader builds that one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines.wpe.world import CONFIGS, SmallWPEConfig, WPEWorld
from pwbench.models.shards import load_small_model, trained_config

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"
TRAIN_COMMAND = "pwbench train wpe --task droid-sim"


def load_small(folder: str | Path | None = None, config: SmallWPEConfig | None = None,
               device: str = "cpu") -> tuple[WPEWorld, dict[str, Any]]:
    """The small WPE in ``folder`` (default: the shipped one), built as the weights name it unless
    ``config`` says otherwise."""
    folder = Path(folder or SMALL_WEIGHTS_DIR)
    config = config or trained_config(folder, CONFIGS, "small WPE", TRAIN_COMMAND)
    return load_small_model(lambda: WPEWorld(config), folder, "small WPE", TRAIN_COMMAND, device)
