"""The shipped small IRASim: safetensors shards in ``weights/droid-sim/`` (each < 20 MB), with the
fitted statistics (pose percentiles and scales, latent scale) and training facts in the metadata.

The metadata names the configuration the weights were trained as (``config``: with or without a
pose map), so the loader builds that one; an unknown name is an error, never a guess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines.irasim.world import CONFIGS, IRASimWorld, SmallIRASimConfig
from pwbench.models.shards import SmallWeightsError, load_small_model, read_shard_metadata, shard_files

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"
TRAIN_COMMAND = "pwbench train irasim --task droid-sim"


def trained_config(folder: Path) -> SmallIRASimConfig:
    """The configuration the exported weights in ``folder`` name in their metadata."""
    files = shard_files(folder)
    if not files:
        raise SmallWeightsError(f"no small IRASim weights in {folder}; train them with `{TRAIN_COMMAND}`")
    name = read_shard_metadata(files).get("config")
    if name not in CONFIGS:
        raise SmallWeightsError(f"the weights in {folder} were trained as {name!r}, not a small IRASim "
                                f"configuration ({', '.join(CONFIGS)})")
    return CONFIGS[name]


def load_small(folder: str | Path | None = None, config: SmallIRASimConfig | None = None,
               device: str = "cpu") -> tuple[IRASimWorld, dict[str, Any]]:
    """The small IRASim in ``folder`` (default: the shipped one), built as the weights name it
    unless ``config`` says otherwise."""
    folder = Path(folder or SMALL_WEIGHTS_DIR)
    config = config or trained_config(folder)
    return load_small_model(lambda: IRASimWorld(config), folder, "small IRASim", TRAIN_COMMAND, device)
