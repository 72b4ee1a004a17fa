"""DROID from the Hugging Face Hub: only the files the eval set needs, at a pinned commit.

Two ports of DROID 1.0.1 are known (others are opened by their ``meta/info.json`` version):

* ``cadene/droid_1.0.1`` — LeRobot v2.1, one parquet and three mp4 per episode (what Ctrl-World
  used): 256 clips cost 256 × 4 small files.
* ``lerobot/droid_1.0.1`` — LeRobot v3.0, episodes packed into ≤100 MB parquet and ≤500 MB mp4
  files: each clip costs the files its episode lives in (often shared with other clips).

Steps: ``meta/info.json`` (which layout), then only the metadata the eval-set rule reads (not
DROID's ~1 GB statistics), then — after the clips are chosen — their episodes' files. Everything
goes through ``huggingface_hub.snapshot_download``, so ``HF_HOME``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``
and resuming interrupted downloads behave as everywhere else; the commit is resolved once and
pinned (``snapshots/<commit>/`` is the revision recorded in the manifest and the fingerprint).
Without network, the error says in one line which files are missing and the exact
``hf download`` command (also written to a script when the list is long).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from pwbench import protocol
from pwbench.data.episode import EpisodeSource
from pwbench.errors import DatasetError

KNOWN_PORTS = {"cadene/droid_1.0.1": "lerobot-v2.1", "lerobot/droid_1.0.1": "lerobot-v3.0"}
META_PATTERNS = {"v2": ["meta/info.json", "meta/episodes.jsonl"],
                 "v3": ["meta/info.json", "meta/episodes/*"]}
INLINE_FILES = 8  # longer lists go to a script beside the cache


@dataclass(frozen=True)
class HubLocation:
    """Where a Hub-backed source came from: repo id and the pinned commit."""

    repo: str
    commit: str

    def describe(self) -> dict:
        return {"hub": self.repo, "commit": self.commit}


def _download(repo: str, revision: str | None, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        root = Path(snapshot_download(repo_id=repo, repo_type="dataset", revision=revision,
                                      allow_patterns=patterns))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as err:
        raise _missing(repo, revision, patterns, f"cannot get it from the Hugging Face Hub "
                       f"({type(err).__name__})") from err
    # offline, snapshot_download returns a cached snapshot without checking that it holds the files
    missing = [p for p in patterns if not (any(root.glob(p)) if "*" in p else (root / p).is_file())]
    if missing:
        raise _missing(repo, root.name, missing, "not in the local Hugging Face cache")
    return root


def _missing(repo: str, revision: str | None, files: list[str], why: str) -> DatasetError:
    """The one-line error: what is missing and the exact command that fetches it."""
    command = ["hf", "download", repo, "--repo-type", "dataset"]
    if revision:
        command += ["--revision", revision]
    command = shlex.join(command + files)
    if len(files) <= INLINE_FILES:
        how = f"on a machine with network access run: {command}"
    else:
        from pwbench.io import atomic_write_bytes
        from pwbench.paths import cache_root

        script = cache_root() / "downloads" / f"{repo.replace('/', '--')}-{(revision or 'main')[:12]}.sh"
        atomic_write_bytes(script, ("#!/bin/sh\n" + command + "\n").encode())
        how = (f"on a machine with network access run the command in {script} "
               f"({shlex.join(['hf', 'download', repo, '--repo-type', 'dataset'])} ... with all {len(files)} files)")
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return DatasetError(f"{repo}{'@' + revision[:12] if revision else ''}: {len(files)} file(s) missing "
                        f"({shown}): {why}; {how}; then run again (the files land in the Hugging Face "
                        "cache, HF_HOME), or pass --data DIR with a local copy")


def open_hub(repo: str, revision: str | None = None) -> EpisodeSource:
    """The source for a Hub dataset, with its metadata downloaded (not yet its episodes)."""
    from pwbench.data.sources import open_folder

    root = _download(repo, revision, ["meta/info.json"])
    commit = root.name  # the Hub cache keeps each snapshot under snapshots/<commit>/
    from pwbench.data.lerobot import read_info

    version = str(read_info(root).get("codebase_version", ""))[:2]
    if version not in META_PATTERNS:
        raise DatasetError(f"{repo}: meta/info.json has codebase_version {version!r}; pwbench reads LeRobot v2.x "
                           "and v3.x datasets")
    root = _download(repo, commit, META_PATTERNS[version])
    source = open_folder(root, dataset_id=repo)
    source.remote = HubLocation(repo, commit)
    return source


def fetch_episodes(source: EpisodeSource, indices: list[int], views: tuple[str, ...] = protocol.VIEWS) -> None:
    """Download the files of these episodes (a no-op for local folders); every one must exist after."""
    remote: HubLocation | None = source.remote
    if remote is None:
        return
    files = sorted({rel for i in indices for rel in source.files(i, views)})
    _download(remote.repo, remote.commit, [*META_PATTERNS["v2" if source.layout == "lerobot-v2.1" else "v3"],
                                           *files])


def plan_download(source: EpisodeSource, indices: list[int], sizes: dict[str, int] | None,
                  views: tuple[str, ...] = protocol.VIEWS) -> dict:
    """What fetching these episodes costs: the distinct files (packed layouts share them) and
    their bytes from ``sizes`` (path -> bytes, e.g. the Hub's file listing; None or a missing
    path: unknown)."""
    files = sorted({rel for i in indices for rel in source.files(i, views)})
    known = {f: sizes[f] for f in files if sizes is not None and f in sizes}
    kinds: dict[str, dict] = {}
    for f in files:
        kind = kinds.setdefault(Path(f).suffix.lstrip(".") or "other", {"files": 0, "bytes": 0})
        kind["files"] += 1
        kind["bytes"] += known.get(f, 0)
    return {"layout": source.layout, "episodes": len(set(indices)), "files": len(files),
            "bytes": sum(known.values()), "unknown_size": len(files) - len(known), "by_kind": kinds,
            "paths": files}


def hub_sizes(remote: HubLocation, files: list[str]) -> dict[str, int]:
    """File sizes from the Hub's listing (network), in batches."""
    from huggingface_hub import HfApi

    api, sizes = HfApi(), {}
    for start in range(0, len(files), 500):
        for info in api.get_paths_info(remote.repo, files[start:start + 500], repo_type="dataset",
                                       revision=remote.commit):
            size = getattr(info, "size", None)
            if size is not None:
                sizes[info.path] = int(size)
    return sizes
