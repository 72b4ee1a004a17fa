"""Where each task's data lives, and its revision (part of the fingerprint).

* ``droid-sim``: the eval split shipped inside the package; its revision is the content digest
  recorded in ``droid_sim/eval.sha256.json``, so regenerated data is a different revision.
* ``droid``: the Hugging Face Hub (``cadene/droid_1.0.1`` by default, or ``--data hf:REPO``, e.g.
  ``hf:lerobot/droid_1.0.1``), fetching only what the eval set needs, at a pinned commit.
* any task: ``--data DIR``, a local folder in any layout :mod:`pwbench.data.sources` reads; its
  dataset id is ``local:<layout>`` and its revision a digest of its files (``local_revision``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pwbench import protocol
from pwbench.data.episode import EpisodeSource
from pwbench.data.lerobot import LeRobotFolder
from pwbench.data.sources import local_revision, open_folder
from pwbench.errors import DatasetError, PwbenchError

__all__ = ["get_task", "hub_repo", "local_revision", "open_dataset", "HUB_PREFIX"]

SIM_DIR = Path(str(resources.files("pwbench.data"))) / "droid_sim"
SIM_EVAL_DIR = SIM_DIR / "eval"
SIM_EVAL_DIGEST = SIM_DIR / "eval.sha256.json"
HUB_PREFIX = "hf:"  # --data hf:owner/name reads a Hub dataset


def get_task(name: str) -> protocol.TaskSpec:
    if name not in protocol.TASKS:
        from pwbench.registry import suggest

        raise PwbenchError(suggest(name, list(protocol.TASKS), "task"))
    return protocol.TASKS[name]


def hub_repo(task: protocol.TaskSpec, data: str | Path | None) -> str | None:
    """The Hub repo a task's data comes from (``--data hf:REPO``, or droid's default), else None."""
    if data is not None:
        return str(data)[len(HUB_PREFIX):] if str(data).startswith(HUB_PREFIX) else None
    return task.dataset_id if task.name == "droid" else None


def open_dataset(task: protocol.TaskSpec, data: str | Path | None,
                 revision: str | None = None) -> tuple[EpisodeSource, str]:
    """The dataset for a task and its revision string."""
    if task.name == "droid-sim" and data is None:
        if not (SIM_EVAL_DIR / "meta" / "info.json").is_file():
            raise DatasetError(f"the shipped droid-sim eval split is missing from {SIM_EVAL_DIR}; "
                               "reinstall pwbench or regenerate it with `pwbench data sim --split eval`")
        if revision is None:
            revision = (f"sha256-{json.loads(SIM_EVAL_DIGEST.read_text())['overall']}"
                        if SIM_EVAL_DIGEST.is_file() else local_revision(SIM_EVAL_DIR))
        source = LeRobotFolder(SIM_EVAL_DIR, dataset_id=task.dataset_id)
        source.shipped = True
        return source, revision
    repo = hub_repo(task, data)
    if data is not None and repo is None:
        source = open_folder(data)
        return source, revision or local_revision(source.root)
    if repo is not None:
        from pwbench.data.hub import open_hub

        source = open_hub(repo, revision)
        return source, source.remote.commit
    raise DatasetError(f"task {task.name} needs --data DIR")
