"""The eval-set manifest of a dataset, written once and verified on every later run.

The first ``pwbench data prepare`` (or ``run``) on a dataset writes, per source and horizon, the
clips the rule chose (ids, start frames, lengths), the dataset id and revision, the rule's
version and — as each clip is decoded — the sha256 of its decoded, resized frames. Later runs
check themselves against it:

* a Hub dataset is read at the pinned commit, so a new commit on the Hub does not silently
  change the eval set (``--revision`` reads another commit and is refused if it differs);
* a local folder whose files changed (another revision), a changed clip list, or a clip that
  decodes to other frames is refused, naming what changed. To benchmark changed data as a new
  eval set, delete the manifest file named in the error (or ``pwbench data prepare --new-manifest``).

The shipped droid-sim split has no pinned manifest: its revision is already its content digest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pwbench import protocol
from pwbench.errors import DatasetError
from pwbench.io import atomic_write_json, utc_timestamp
from pwbench.paths import evalset_cache

PIN_VERSION = 2  # 2: a local folder's content revision digests its files' bytes (1: their size and mtime)
# What must not change. Not the revision *label* (``--revision NAME`` may rename a local folder's
# revision): its content revision — the Hub commit, or the digest of a local folder's files.
_COMPARED = ("dataset_id", "content_revision", "rule", "min_future")


def content_revision(dataset) -> str:
    """The Hub commit of a Hub dataset, else the digest of the local folder's files."""
    if dataset.remote is not None:
        return dataset.remote.commit
    from pwbench.data.sources import local_revision

    return local_revision(dataset.root)


def pin_path(task: protocol.TaskSpec, data: str | Path | None, min_future: int) -> Path | None:
    """Where the manifest of this source and horizon lives (None: the shipped droid-sim split)."""
    if data is None and task.name == "droid-sim":
        return None
    from pwbench.data.tasks import HUB_PREFIX, hub_repo

    repo = hub_repo(task, data)
    where = f"{HUB_PREFIX}{repo}" if repo is not None else str(Path(data).resolve())
    slug = "".join(c if c.isalnum() else "-" for c in where.rsplit("/", 1)[-1])[:40]
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    return evalset_cache(task.name) / "manifests" / f"{slug}-{digest}-{min_future}f.json"


def read_pin(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: unreadable eval-set manifest ({err}); delete it to write a new one") from err


def _clip_rows(manifest: dict) -> list[tuple]:
    return [(c["clip_id"], c["start_frame"], c["frames_available"]) for c in manifest["clips"]]


def check_or_write(path: Path, manifest: dict, dataset) -> None:
    """Refuse a manifest that differs from the pinned one; write it when there is none."""
    manifest = {**manifest, "content_revision": content_revision(dataset)}
    pinned = read_pin(path)
    if pinned is None:
        record = {"pin_version": PIN_VERSION, "written": utc_timestamp(),
                  **{k: manifest[k] for k in ("task", "source", "revision", *_COMPARED, "masks")},
                  "clips": [dict(c) for c in manifest["clips"]]}
        atomic_write_json(path, record)
        return
    how = f"to benchmark it as a new eval set, delete {path} (or run `pwbench data prepare --new-manifest`)"
    for key in _COMPARED:
        if pinned.get(key) != manifest.get(key):
            why = ""
            if key == "content_revision" and dataset.remote is None and pinned.get("pin_version", 1) < 2:
                why = (" — that manifest was pinned by an earlier pwbench whose local revisions hashed file "
                       "sizes and times, not contents, so an unchanged folder differs too")
            raise DatasetError(f"the dataset changed since its eval-set manifest was written ({key}: "
                               f"{pinned.get(key)!r} then, {manifest.get(key)!r} now){why}; {how}")
    old, new = _clip_rows(pinned), _clip_rows(manifest)
    if old != new:
        gone = sorted({r[0] for r in old} - {r[0] for r in new})
        added = sorted({r[0] for r in new} - {r[0] for r in old})
        raise DatasetError(f"the dataset's eval clips changed since {path} was written (no longer eligible: "
                           f"{gone[:3] or 'none'}, new: {added[:3] or 'none'}, or other lengths); {how}")


def frames_digest(frames: dict[str, np.ndarray], views: tuple[str, ...]) -> str:
    """sha256 of a clip's decoded, resized frames, view by view (shape included)."""
    h = hashlib.sha256()
    for view in views:
        array = np.ascontiguousarray(frames[view])
        h.update(f"{view}:{array.shape}:{array.dtype}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def check_frames(path: Path, clip_id: str, digest: str, frames: int) -> None:
    """Compare a clip's decoded frames with the pinned digest, or record it (first decode)."""
    pinned = read_pin(path)
    if pinned is None:
        return
    entry = next((c for c in pinned["clips"] if c["clip_id"] == clip_id), None)
    if entry is None:
        return
    known = entry.get("frames_sha256", {})
    if str(frames) in known:
        if known[str(frames)] != digest:
            raise DatasetError(f"clip {clip_id}: its {frames} decoded frames differ from those recorded in {path} "
                               f"when the eval set was first prepared (sha256 {known[str(frames)][:12]}… then, "
                               f"{digest[:12]}… now): the video files or the decoder changed")
        return
    entry["frames_sha256"] = {**known, str(frames): digest}
    atomic_write_json(path, pinned)
