"""DROID from the Hugging Face Hub: only the files the eval manifest needs.

The v2.1 port (``cadene/droid_1.0.1``) stores one parquet and three mp4 files per episode, so
the 256 eval clips cost a few GB instead of the whole 400 GB dataset. Offline (or without
network), the error says exactly which files are missing and how to fetch them elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from pwbench import protocol
from pwbench.errors import DatasetError

DOWNLOAD_HINT = ("download them on a machine with network access:\n"
                 "  huggingface-cli download {repo} --repo-type dataset --local-dir DROID_DIR "
                 "--include 'meta/*' {patterns}\n"
                 "then run with --data DROID_DIR")


def _snapshot(repo: str, revision: str | None, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(repo_id=repo, repo_type="dataset", revision=revision,
                                      allow_patterns=patterns))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as err:
        shown = " ".join(f"--include '{p}'" for p in patterns[:6]) + (" ..." if len(patterns) > 6 else "")
        raise DatasetError(f"cannot get {repo} from the Hugging Face Hub ({type(err).__name__}); "
                           + DOWNLOAD_HINT.format(repo=repo, patterns=shown)) from err


def fetch_droid_eval(task: protocol.TaskSpec, revision: str | None) -> tuple[Path, str]:
    """Download DROID's metadata, pick the eval clips, download their episodes."""
    from pwbench.data.evalset import select_clips
    from pwbench.data.lerobot import LeRobotFolder

    repo = task.dataset_id
    root = _snapshot(repo, revision, ["meta/*"])
    commit = root.name  # the hub cache keeps each snapshot under snapshots/<commit>/
    dataset = LeRobotFolder(root)
    manifest = select_clips(task, dataset, commit)
    patterns = []
    for clip in manifest["clips"]:
        index = clip["episode_index"]
        patterns.append(str(dataset.data_path(index).relative_to(root)))
        patterns += [str(dataset.video_path(index, v).relative_to(root)) for v in task.views]
    _snapshot(repo, commit, ["meta/*", *patterns])
    return root, commit
