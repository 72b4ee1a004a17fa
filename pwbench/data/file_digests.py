"""Content digests of a folder's files, memoised by what ``stat`` says of each file.

A local dataset's revision must follow its content, not where or when it was copied: the
validation seeds of ``pwbench run --data TRAIN_SPLIT`` derive from the fingerprint, so a fresh
``cp -r`` of the same split must give the same revision, and a replaced video a new one. Reading
every byte on every run would cost minutes on a real DROID mirror, so each file's sha256 is kept in
a small JSON memo per folder (:func:`pwbench.paths.file_digest_cache`), keyed by the file's path
in the folder and its size, modification time, change time and inode — git's index rule. The
change time cannot be set back by a user-level call (``touch`` and ``os.utime`` set only the
modification time), so a rewritten file gets a new key. Git's "racy" case is handled as git does:
a file whose times are within :data:`RACY_SECONDS` of now, or whose stat changed while it was read,
is hashed but not memoised, since a same-size rewrite within one timestamp tick would otherwise
keep the old key. The first run over a large folder reads it all, with a progress bar.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from pwbench.io import atomic_write_json, sha256_file
from pwbench.paths import file_digest_cache

MEMO_VERSION = 1
RACY_SECONDS = 2.0
PROGRESS_BYTES = 256 << 20  # show a progress bar when at least this much must be read


def _memo_path(resolved_root: Path) -> Path:
    key = hashlib.sha256(str(resolved_root).encode()).hexdigest()[:20]
    return file_digest_cache() / f"{key}.json"


def _stat_key(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _read_memo(path: Path, resolved_root: Path) -> dict[str, list]:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent, unreadable or torn by a crash: a memo is only a shortcut
    if not isinstance(memo, dict) or memo.get("version") != MEMO_VERSION or memo.get("root") != str(resolved_root):
        return {}
    files = memo.get("files")
    return files if isinstance(files, dict) else {}


def file_digests(root: str | Path, files: list[Path]) -> dict[Path, str]:
    """sha256 of each of ``files`` (paths under ``root``, as listed there: a file may be a
    symlink to elsewhere, as in a Hugging Face snapshot), read only where the memo has no entry
    with the file's current stat; the memo is rewritten atomically when it changed."""
    from tqdm import tqdm

    root = Path(root)
    resolved = root.resolve()  # the memo's identity; paths inside it stay as listed under root
    memo_path = _memo_path(resolved)
    memo = _read_memo(memo_path, resolved)
    stats = {path: path.stat() for path in files}
    rels = {path: path.relative_to(root).as_posix() for path in files}
    todo = {p for p in files if not (isinstance(e := memo.get(rels[p]), list) and len(e) == 2
                                     and e[0] == _stat_key(stats[p]))}
    size = sum(stats[p].st_size for p in todo)
    fresh: dict[str, list] = {}
    digests: dict[Path, str] = {}
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 of {root.name}",
              disable=size < PROGRESS_BYTES) as bar:
        for path in files:
            key = _stat_key(stats[path])
            if path in todo:
                digest = sha256_file(path)
                bar.update(stats[path].st_size)
                after = path.stat()
                racy = time.time() - max(after.st_mtime, after.st_ctime) < RACY_SECONDS
                if _stat_key(after) == key and not racy:
                    fresh[rels[path]] = [key, digest]
            else:
                digest = memo[rels[path]][1]
                fresh[rels[path]] = [key, digest]
            digests[path] = digest
    if fresh != memo:
        try:
            atomic_write_json(memo_path, {"version": MEMO_VERSION, "root": str(resolved), "files": fresh})
        except OSError:
            pass  # a read-only cache only costs the next run a re-read
    return digests
