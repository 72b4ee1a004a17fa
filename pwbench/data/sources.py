"""Which layout a local folder is in, and the revision of a local folder.

=====================  ==================================  =============================
layout                 what marks it                       reader
=====================  ==================================  =============================
``lerobot-v2.1``       ``meta/info.json``, version v2.x    :class:`~pwbench.data.lerobot.LeRobotFolder`
``lerobot-v3.0``       ``meta/info.json``, version v3.x    :class:`~pwbench.data.lerobot_v3.LeRobotV3Folder`
``ctrl-world``         ``annotation/`` + ``videos/``        :class:`~pwbench.data.ctrl_world_layout.CtrlWorldFolder`
=====================  ==================================  =============================

A local folder's dataset id is ``local:<layout>``: pwbench cannot know which Hub dataset a
folder was copied from, so it never claims one (a folder of DROID and a folder of anything
else are both "local"); the revision (below) tells two folders apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pwbench.data.ctrl_world_layout import CtrlWorldFolder, is_ctrl_world_folder
from pwbench.data.episode import EpisodeSource
from pwbench.data.file_digests import file_digests
from pwbench.errors import DatasetError

LAYOUTS = ("lerobot-v2.1", "lerobot-v3.0", "ctrl-world")
# metadata read whole into the revision; every file in these folders counts by name and sha256
_META_CONTENT = ("meta/info.json", "meta/episodes.jsonl", "meta/tasks.jsonl")
_STAT_FOLDERS = ("meta/episodes", "data", "videos", "masks", "annotation")


def open_folder(root: str | Path, dataset_id: str | None = None) -> EpisodeSource:
    """The reader for a local dataset folder, by its layout (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--data {root}: no such folder")
    if (root / "meta" / "info.json").is_file():
        from pwbench.data.lerobot import LeRobotFolder, read_info

        version = str(read_info(root).get("codebase_version", ""))
        if version.startswith("v3"):
            from pwbench.data.lerobot_v3 import LeRobotV3Folder

            return LeRobotV3Folder(root, dataset_id)
        return LeRobotFolder(root, dataset_id)
    if is_ctrl_world_folder(root):
        return CtrlWorldFolder(root, dataset_id)
    raise DatasetError(f"{root}: not a dataset folder pwbench can read: expected meta/info.json (LeRobot v2.1 "
                       "or v3.0) or annotation/ + videos/ (Ctrl-World's processed layout)")


def local_revision(root: Path) -> str:
    """A revision for a local folder: digest of its small metadata files' content and of the name
    and sha256 of every data, video, mask and annotation file.

    It follows the bytes, not the copy: a replaced video or table gives a new revision (so a new
    fingerprint and a new frame cache), while a fresh ``cp -r`` of the same split gives the same
    one, so validation seeds derived from it stay the same across machines and sessions. Each
    file is read once; later calls take its digest from a memo keyed by its stat
    (:mod:`pwbench.data.file_digests`). Name a revision yourself with ``--revision``."""
    root = Path(root)
    h = hashlib.sha256()
    for rel in _META_CONTENT:
        path = root / rel
        if path.is_file():
            h.update(rel.encode() + b"\0" + path.read_bytes())
    files = [path for folder in _STAT_FOLDERS for path in sorted((root / folder).rglob("*"))
             if path.is_file() and not path.name.startswith(".")]
    for path, digest in file_digests(root, files).items():
        h.update(f"{path.relative_to(root).as_posix()}:{digest}\n".encode())
    return "local-" + h.hexdigest()[:16]
