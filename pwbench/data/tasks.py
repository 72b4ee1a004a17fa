"""Where each task's data lives, and its revision (part of the fingerprint).

* ``droid-sim``: the eval split shipped inside the package; its revision is the content digest
  recorded in ``droid_sim/eval.sha256.json``, so regenerated data is a different revision.
* ``droid``: a local folder in the v2.1 layout (``--data DIR``), or the Hugging Face Hub
  (``cadene/droid_1.0.1``), fetching only the episodes the manifest needs.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from pwbench import protocol
from pwbench.data.lerobot import LeRobotFolder
from pwbench.errors import DatasetError, PwbenchError

SIM_DIR = Path(str(resources.files("pwbench.data"))) / "droid_sim"
SIM_EVAL_DIR = SIM_DIR / "eval"
SIM_EVAL_DIGEST = SIM_DIR / "eval.sha256.json"


def get_task(name: str) -> protocol.TaskSpec:
    if name not in protocol.TASKS:
        from pwbench.registry import suggest

        raise PwbenchError(suggest(name, list(protocol.TASKS), "task"))
    return protocol.TASKS[name]


def local_revision(root: Path) -> str:
    """A revision for a local folder: digest of its metadata files' content and of every data,
    video and mask file's name, size and modification time.

    Replacing a video or a table therefore gives a new revision (so a new fingerprint and a new
    frame cache) without reading gigabytes; copying a folder without keeping modification times
    does too, which only costs a re-decode. Name a revision yourself with ``--revision``."""
    h = hashlib.sha256()
    for rel in ("meta/info.json", "meta/episodes.jsonl", "meta/tasks.jsonl"):
        path = root / rel
        if path.is_file():
            h.update(rel.encode() + b"\0" + path.read_bytes())
    for folder in ("data", "videos", "masks"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                st = path.stat()
                h.update(f"{path.relative_to(root).as_posix()}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return "local-" + h.hexdigest()[:16]


def open_dataset(task: protocol.TaskSpec, data: str | Path | None,
                 revision: str | None = None) -> tuple[LeRobotFolder, str]:
    """The dataset folder for a task and its revision string."""
    if task.name == "droid-sim" and data is None:
        if not (SIM_EVAL_DIR / "meta" / "info.json").is_file():
            raise DatasetError(f"the shipped droid-sim eval split is missing from {SIM_EVAL_DIR}; "
                               "reinstall pwbench or regenerate it with `pwbench data sim --split eval`")
        if revision is None:
            revision = (f"sha256-{json.loads(SIM_EVAL_DIGEST.read_text())['overall']}"
                        if SIM_EVAL_DIGEST.is_file() else local_revision(SIM_EVAL_DIR))
        return LeRobotFolder(SIM_EVAL_DIR), revision
    if data is not None:
        root = Path(data)
        if not root.is_dir():
            raise DatasetError(f"--data {root}: no such folder")
        return LeRobotFolder(root), revision or local_revision(root)
    if task.name == "droid":
        from pwbench.data.hub import fetch_droid_eval

        root, rev = fetch_droid_eval(task, revision)
        return LeRobotFolder(root), rev
    raise DatasetError(f"task {task.name} needs --data DIR")
