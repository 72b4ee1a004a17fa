"""Where pwbench keeps what it derives (converted weights, decoded eval sets, generated data).

``PWBENCH_CACHE`` moves the whole cache (default ``~/.cache/pwbench``); ``PWBENCH_EVALSET_CACHE``
moves only the decoded eval sets and the dataset files' digests, which tests point at a temporary
folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("PWBENCH_CACHE") or Path.home() / ".cache" / "pwbench")


def evalset_cache(task: str) -> Path:
    base = os.environ.get("PWBENCH_EVALSET_CACHE")
    return (Path(base) if base else cache_root() / "evalsets") / task


def file_digest_cache() -> Path:
    """The memoised sha256 of local dataset files (:mod:`pwbench.data.file_digests`), beside the
    eval sets decoded from them."""
    base = os.environ.get("PWBENCH_EVALSET_CACHE")
    return (Path(base) if base else cache_root() / "evalsets") / ".file-digests"
