"""Eval-set preparation: a frozen manifest of clips and a decoded-frame cache.

The manifest (clip ids, start frames, dataset id and revision) is what the fingerprint hashes.
Every clip is decoded and resized once, stored as uint8 arrays with a sha256, and read back
from the cache by every later run and by ``pwbench score``, so scoring never decodes video
twice and a changed cache file is caught instead of silently scored.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pwbench import protocol
from pwbench.data.episode import Episode, EpisodeSource
from pwbench.errors import DatasetError
from pwbench.io import atomic_write_bytes, atomic_write_json

MAX_GRID_FRAMES = max(protocol.HORIZON_GRID.values())


@dataclass
class Clip:
    """One evaluation clip: context frames 0..s0 and the future frames s0+1..s0+H."""

    clip_id: str
    episode: Episode  # frames 0 .. s0 + cached future, 5 Hz, task resolution
    start_frame: int  # s0

    @property
    def future_frames(self) -> int:
        return len(self.episode.state) - 1 - self.start_frame

    def future(self, horizon: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
        """Ground truth of frames s0+1 .. s0+horizon: frames and (if the dataset has them) masks
        per view. The one place the scored window is sliced."""
        self.require(horizon)
        window = slice(self.start_frame + 1, self.start_frame + 1 + horizon)
        frames = {v: f[window] for v, f in self.episode.frames.items()}
        masks = None if self.episode.masks is None else {v: m[window] for v, m in self.episode.masks.items()}
        return frames, masks

    def require(self, horizon: int) -> None:
        have = self.future_frames
        if horizon > have:
            raise DatasetError(f"clip {self.clip_id}: episode too short for the horizon: {horizon} frames "
                               f"after s0={self.start_frame} needed, {have} available")


def clip_id_for(episode_index: int, start_frame: int) -> str:
    return f"ep{episode_index:06d}-s{start_frame:03d}"


# The eval-set rules, versioned: a change to a rule is a new name here (and in docs/protocol.md).
RULES = {
    "droid-sim": "droid-sim-all-v1",  # every episode of the split, in index order
    "droid": "droid-val-v1",  # validation episodes, sha256("pwbench/droid/v1:<index>") order, first 256
}
CLIP_ORDER_SALT = "pwbench/droid/v1"


def clip_order_key(episode_index: int) -> str:
    """The stable shuffle of capped eval sets: independent of folder listing and of the layout."""
    return hashlib.sha256(f"{CLIP_ORDER_SALT}:{episode_index}".encode()).hexdigest()


def select_clips(task: protocol.TaskSpec, dataset: EpisodeSource, revision: str,
                 min_future: int = MAX_GRID_FRAMES) -> dict:
    """The clip manifest for a task: a fixed, documented rule (docs/protocol.md, ``RULES``).

    droid-sim: every episode of the split. droid: validation episodes (episode_index % 100 ==
    99). An episode is eligible when it has s0 = ``task.start_frame`` plus ``min_future`` frames
    (the run's horizon) and every view's video is present (a local folder: the files exist; a
    Hub dataset: its metadata lists them, the download checks the rest). When a task caps the
    clip count, eligible episodes are taken in ``clip_order_key`` order.
    """
    s0 = task.start_frame
    indices = dataset.episode_indices
    if task.name == "droid":
        indices = [i for i in indices if i % 100 == 99]
        if not indices:
            raise DatasetError(f"{dataset.root}: no validation episode (the droid eval set is the episodes whose "
                               "index ends in 99); this folder holds none of them")
    need = s0 + 1 + min_future
    candidates = [i for i in indices if dataset.length_5hz(i) >= need]
    if task.num_clips is not None:
        candidates = sorted(candidates, key=clip_order_key)
    eligible = []
    for i in candidates:
        if dataset.remote is not None or dataset.files_present(i, task.views):
            eligible.append(i)
            if task.num_clips is not None and len(eligible) == task.num_clips:
                break
    if not eligible:
        raise DatasetError(f"{dataset.root}: no episode has the {need} frames at {protocol.FPS} Hz and all "
                           f"{len(task.views)} videos that a clip of task {task.name} needs")
    clips = [{"clip_id": clip_id_for(i, s0), "episode_index": i, "start_frame": s0,
              "frames_available": dataset.length_5hz(i)} for i in sorted(eligible)]
    masks = "available" if dataset.has_masks else "unavailable"
    return {"task": task.name, "dataset_id": dataset.dataset_id, "revision": revision, "masks": masks,
            "clips": clips, "rule": RULES.get(task.name, RULES["droid-sim"]), "min_future": min_future,
            "source": dataset.describe()}


def eval_manifest(task: protocol.TaskSpec, data: str | Path | None, revision: str | None,
                  min_future: int) -> tuple[EpisodeSource, dict, Path | None]:
    """Open a task's dataset and choose its clips for a horizon of ``min_future`` frames, checked
    against the dataset's pinned manifest (written on first use; pwbench.data.pinned).

    Returns the dataset, the manifest and the pinned manifest's path (None for the shipped split)."""
    from pwbench.data.pinned import check_or_write, pin_path, read_pin
    from pwbench.data.tasks import hub_repo, open_dataset

    pin = pin_path(task, data, min_future)
    pinned = read_pin(pin)
    if pinned is not None and revision is None and hub_repo(task, data) is not None:
        revision = pinned["revision"]  # the Hub may have moved on: read the pinned commit
    dataset, revision = open_dataset(task, data, revision)
    manifest = select_clips(task, dataset, revision, min_future=min_future)
    if pin is not None:
        check_or_write(pin, manifest, dataset)
    return dataset, manifest, pin


class EvalSet:
    """A prepared eval set: manifest + cached clips, in ``cache_dir/<manifest digest>/``."""

    def __init__(self, task: protocol.TaskSpec, manifest: dict, cache_dir: Path,
                 dataset: EpisodeSource | None, pin: Path | None = None) -> None:
        self.task = task
        self.pin = pin  # the pinned manifest (pwbench.data.pinned) its decoded frames are checked against
        self.manifest = manifest
        self.fingerprint = protocol.fingerprint(task, manifest)
        # decoded frames do not depend on SAM masks: one frame cache with and without them
        self.dir = Path(cache_dir) / protocol.fingerprint(task, without_sam_masks(manifest))[:16]
        self.mask_store = None  # SAM masks (pwbench.data.mask_store), when the manifest names a version
        if "mask_version" in manifest:
            from pwbench.data.mask_store import MaskStore, source_key

            self.mask_store = MaskStore(task.name, source_key(manifest), manifest["mask_version"])
        self.dataset = dataset
        self._index_path = self.dir / "index.json"
        self._hashes: dict[str, str] = {}
        self.unreadable: dict[str, str] = {}  # clip -> why its episode could not be decoded
        self._read_index()

    def _read_index(self) -> None:
        """(Re-)read the recorded hashes: another process (rank 0) may have cached clips since."""
        if self._index_path.is_file():
            try:
                self._hashes.update(json.loads(self._index_path.read_text()))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise DatasetError(f"{self._index_path}: unreadable frame-cache index ({err}); "
                                   f"delete {self.dir} to decode the clips again") from err

    @property
    def has_masks(self) -> bool:
        """Whether the dataset has object masks (without them every masked metric is null, and
        the run, its fingerprint and its summary say so)."""
        return self.manifest.get("masks", "available") == "available"

    @property
    def clip_ids(self) -> list[str]:
        return [c["clip_id"] for c in self.manifest["clips"]]

    def _entry(self, clip_id: str) -> dict:
        for c in self.manifest["clips"]:
            if c["clip_id"] == clip_id:
                return c
        raise KeyError(f"clip {clip_id} is not in the manifest")

    def prepare(self, horizon: int, progress: bool = True) -> None:
        """Decode and cache every clip that is not cached yet (or cached too short). A clip whose
        episode cannot be read is remembered (``unreadable``) and fails alone when loaded."""
        todo = [cid for cid in self.clip_ids if not self._cached_enough(cid, horizon)]
        if todo and self.dataset is not None:  # a Hub dataset downloads what is not cached yet
            from pwbench.data.hub import fetch_episodes

            fetch_episodes(self.dataset, sorted({self._entry(c)["episode_index"] for c in todo}), self.task.views)
        for clip_id in tqdm(todo, desc="prepare eval set", unit="clip", disable=not progress or not todo):
            try:
                self._cache(clip_id, horizon)
            except Exception as err:  # noqa: BLE001 - a corrupt episode fails its clip, not the run
                self.unreadable[clip_id] = str(err) if isinstance(err, DatasetError) else \
                    f"episode {self._entry(clip_id)['episode_index']} could not be decoded: {type(err).__name__}: {err}"

    def _cached_enough(self, clip_id: str, horizon: int) -> bool:
        path = self.dir / f"{clip_id}.npz"
        if clip_id not in self._hashes or not path.is_file():
            return False
        entry = self._entry(clip_id)
        want = min(entry["frames_available"], entry["start_frame"] + 1 + max(horizon, MAX_GRID_FRAMES))
        try:
            with np.load(path) as stored:
                return int(stored["state"].shape[0]) >= want
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return False  # a truncated or foreign cache file is decoded again

    def _cache(self, clip_id: str, horizon: int) -> None:
        if self.dataset is None:
            raise DatasetError(f"clip {clip_id} is not in the frame cache {self.dir} and no dataset was given")
        entry = self._entry(clip_id)
        frames = min(entry["frames_available"], entry["start_frame"] + 1 + max(horizon, MAX_GRID_FRAMES))
        ep = self.dataset.load_episode(entry["episode_index"], self.task.resolution, frames, self.task.views)
        if self.pin is not None:
            from pwbench.data.pinned import check_frames, frames_digest

            check_frames(self.pin, clip_id, frames_digest(ep.frames, self.task.views), frames)
        arrays = {"state": ep.state, "joints": ep.joints,
                  "instruction": np.array(ep.instruction)}
        for view in self.task.views:
            arrays[f"frames/{view}"] = ep.frames[view]
            if ep.masks is not None:
                arrays[f"masks/{view}"] = ep.masks[view]
        payload = _npz_bytes(arrays)
        atomic_write_bytes(self.dir / f"{clip_id}.npz", payload)
        self._hashes[clip_id] = hashlib.sha256(payload).hexdigest()
        atomic_write_json(self._index_path, self._hashes)

    def load(self, clip_id: str) -> Clip:
        """A cached clip, checked against its recorded sha256."""
        entry = self._entry(clip_id)
        path = self.dir / f"{clip_id}.npz"
        if clip_id in self.unreadable:
            raise DatasetError(f"clip {clip_id}: {self.unreadable[clip_id]}")
        if clip_id not in self._hashes:
            self._read_index()
        if not path.is_file() or clip_id not in self._hashes:
            raise DatasetError(f"clip {clip_id} is not in the frame cache {self.dir}; prepare the eval set first")
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != self._hashes[clip_id]:
            raise DatasetError(f"{path}: sha256 differs from the one recorded when it was cached; "
                               "delete it to re-decode")
        with np.load(io.BytesIO(payload)) as stored:
            frames = {v: stored[f"frames/{v}"] for v in self.task.views}
            has_masks = all(f"masks/{v}" in stored.files for v in self.task.views)
            dataset_masks = self.has_masks and self.mask_store is None
            if has_masks != dataset_masks:
                raise DatasetError(f"{path}: {'has' if has_masks else 'lacks'} object masks, but the dataset "
                                   f"{'has none' if has_masks else 'has them'}; delete it to re-decode")
            masks = {v: stored[f"masks/{v}"] for v in self.task.views} if has_masks else None
            ep = Episode(entry["episode_index"], str(stored["instruction"]), frames,
                         stored["state"], stored["joints"], masks)
        if self.mask_store is not None:
            ep.masks = self.mask_store.read(clip_id, frames)  # SAM masks: only the views the rule masks
        return Clip(clip_id, ep, entry["start_frame"])


def without_sam_masks(manifest: dict) -> dict:
    """The manifest as the dataset alone gives it (SAM masks are attached by mask_store.attach)."""
    if "mask_version" not in manifest:
        return manifest
    base = {k: v for k, v in manifest.items() if k not in ("mask_version", "mask_views")}
    return {**base, "masks": "unavailable"}


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed npz in memory, so its bytes are hashed and written in one go."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
