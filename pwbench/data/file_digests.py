"""Content digests of a folder's files, memoised by what ``stat`` says of each file.

A local dataset's revision must follow its content, not where or when it was copied: the
validation seeds of ``pwbench run --data TRAIN_SPLIT`` derive from the fingerprint, so a fresh
``cp -r`` of the same split must give the same revision, and a replaced video a new one. Reading
every byte on every run would cost seconds on a real DROID mirror, so each file's sha256 is kept
in a small JSON memo in the cache, keyed by its absolute path and its size, modification time,
change time and inode — git's index rule. The change time cannot be set back by any user-level
call (``touch`` and ``os.utime`` only set the modification time), so a file whose bytes changed
never matches its old entry; at worst a memo entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pwbench.io import atomic_write_json, sha256_file
from pwbench.paths import cache_root

MEMO_VERSION = 1


def _memo_path(root: Path) -> Path:
    key = hashlib.sha256(str(root).encode()).hexdigest()[:20]
    return cache_root() / "file-digests" / f"{key}.json"


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _read_memo(path: Path, root: Path) -> dict[str, list]:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent, unreadable or torn by a crash: a memo is only a shortcut
    if not isinstance(memo, dict) or memo.get("version") != MEMO_VERSION or memo.get("root") != str(root):
        return {}
    files = memo.get("files")
    return files if isinstance(files, dict) else {}


def file_digests(root: str | Path, files: list[Path]) -> dict[Path, str]:
    """sha256 of each of ``files`` (paths inside ``root``), read only where the memo has no
    entry with the file's current stat; the memo is rewritten atomically when it changed."""
    root = Path(root).resolve()
    memo_path = _memo_path(root)
    memo = _read_memo(memo_path, root)
    fresh: dict[str, list] = {}
    digests: dict[Path, str] = {}
    for path in files:
        rel = path.resolve().relative_to(root).as_posix()
        key = _stat_key(path.stat())
        entry = memo.get(rel)
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == key:
            digest = entry[1]
        else:
            digest = sha256_file(path)
        fresh[rel] = [key, digest]
        digests[path] = digest
    if fresh != memo:
        try:
            atomic_write_json(memo_path, {"version": MEMO_VERSION, "root": str(root), "files": fresh})
        except OSError:
            pass  # a read-only cache only costs the next run a re-read
    return digests
