"""The shipped small IRASim: safetensors shards in ``weights/droid-sim/`` (each < 20 MB), with the
fitted statistics (pose percentiles and scales, latent scale) and training facts in the metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from baselines.irasim.world import SMALL, IRASimWorld, SmallIRASimConfig
from pwbench.errors import PwbenchError
from pwbench.models.shards import load_exactly, read_shards, shard_files

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"
TRAIN_COMMAND = "pwbench train irasim --task droid-sim"


class SmallWeightsError(PwbenchError, FileNotFoundError):
    """The small weights are missing or belong to another configuration; the message says what to run."""


def read_small(folder: str | Path | None = None) -> tuple[dict, dict[str, Any]]:
    folder = Path(folder) if folder else SMALL_WEIGHTS_DIR
    files = shard_files(folder)
    if not files:
        raise SmallWeightsError(f"no small IRASim weights in {folder}; train them with `{TRAIN_COMMAND}` "
                                "(docs/baselines/irasim.md)")
    return read_shards(files)


def load_small(folder: str | Path | None = None, config: SmallIRASimConfig = SMALL,
               device: str = "cpu") -> tuple[IRASimWorld, dict[str, Any]]:
    state, meta = read_small(folder)
    model = IRASimWorld(config)
    problem = load_exactly(model, state)
    if problem:
        raise SmallWeightsError(f"the weights in {folder or SMALL_WEIGHTS_DIR} do not fit {config.name} (trained as "
                                f"{meta.get('config', '?')!r}): {problem}. Retrain with `{TRAIN_COMMAND}`.")
    return model.to(device).eval(), meta
