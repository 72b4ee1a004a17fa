"""The SAM mask cache of a dataset's eval clips: computed once, bit-packed, hashed, read by every run.

Layout, under the task's eval-set cache::

    sam-masks/<source>/current.json            the mask version runs use (the last one prepared)
    sam-masks/<source>/<version>/info.json     rule, model type, checkpoint sha256, views
    sam-masks/<source>/<version>/index.json    clip id -> sha256 of its mask file
    sam-masks/<source>/<version>/<clip>.npz    packed masks per view + the sha256 of the frames

``<source>`` names the dataset id *and* revision (the Hub commit, or a local folder's digest), so
two folders of one layout — which share the id ``local:<layout>`` — never share masks.

A mask file is tied to the exact frames it was computed from (their sha256 is checked when it is
read), so masks can never be scored against other frames, whatever folder or Hub copy the clip
came from. The version (``pwbench.data.sam.mask_version``) goes into the manifest, and with it
into the fingerprint, only when a run actually has the masks.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np

from pwbench import protocol
from pwbench.data.pinned import frames_digest
from pwbench.errors import DatasetError, PwbenchError
from pwbench.io import atomic_write_bytes, atomic_write_json
from pwbench.paths import evalset_cache

PREPARE_HINT = "pwbench data prepare --task {task} --sam-checkpoint PATH"


def source_key(manifest: dict) -> str:
    """The data a manifest's clips come from: dataset id and revision."""
    return f"{manifest['dataset_id']}@{manifest['revision']}"


def _slug(source: str) -> str:
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    return "".join(c if c.isalnum() else "-" for c in source.split("@")[0])[:40] + "-" + digest


class MaskStore:
    """One mask version's files for one source (``source_key``)."""

    def __init__(self, task: str, source: str, version: str) -> None:
        self.task = task
        self.base = evalset_cache(task) / "sam-masks" / _slug(source)
        self.version = version
        self.dir = self.base / version
        self._index_path = self.dir / "index.json"

    @classmethod
    def current(cls, task: str, source: str) -> MaskStore | None:
        """The version the last ``prepare --sam-checkpoint`` of this source made, if any."""
        pointer = evalset_cache(task) / "sam-masks" / _slug(source) / "current.json"
        if not pointer.is_file():
            return None
        return cls(task, source, json.loads(pointer.read_text())["version"])

    def make_current(self, info: dict) -> None:
        atomic_write_json(self.dir / "info.json", {"version": self.version, **info})
        atomic_write_json(self.base / "current.json", {"version": self.version})

    @property
    def info(self) -> dict:
        path = self.dir / "info.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _index(self) -> dict[str, str]:
        return json.loads(self._index_path.read_text()) if self._index_path.is_file() else {}

    def missing(self, clip_ids: list[str]) -> list[str]:
        index = self._index()
        return [c for c in clip_ids if c not in index or not (self.dir / f"{c}.npz").is_file()]

    def write(self, clip_id: str, masks: dict[str, np.ndarray], frames: dict[str, np.ndarray]) -> None:
        """Store one clip's masks with the digest of the frames they were computed from."""
        views = tuple(masks)
        arrays = {"frames_sha256": np.array(frames_digest(frames, views)), "views": np.array(views)}
        for view, mask in masks.items():
            arrays[f"shape/{view}"] = np.array(mask.shape)
            arrays[f"bits/{view}"] = np.packbits(mask.astype(bool), axis=None)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        payload = buffer.getvalue()
        atomic_write_bytes(self.dir / f"{clip_id}.npz", payload)
        index = self._index()  # one writer at a time: prepare runs on one process
        index[clip_id] = hashlib.sha256(payload).hexdigest()
        atomic_write_json(self._index_path, index)

    def read(self, clip_id: str, frames: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The masks of a clip whose cached frames are ``frames``; any mismatch fails that clip."""
        path = self.dir / f"{clip_id}.npz"
        recorded = self._index().get(clip_id)
        hint = PREPARE_HINT.format(task=self.task)
        if recorded is None or not path.is_file():
            why = (self.info.get("failed") or {}).get(clip_id)
            raise DatasetError(f"clip {clip_id}: no SAM masks in {self.dir}" +
                               (f" (prepare could not compute them: {why})" if why else f"; compute them with {hint}"))
        payload = path.read_bytes()
        if hashlib.sha256(payload).hexdigest() != recorded:
            raise DatasetError(f"{path}: sha256 differs from the one recorded when the masks were computed; "
                               f"delete it and run {hint}")
        with np.load(io.BytesIO(payload)) as stored:
            views = tuple(str(v) for v in stored["views"])
            out = {}
            for view in views:
                shape = tuple(int(n) for n in stored[f"shape/{view}"])
                out[view] = np.unpackbits(stored[f"bits/{view}"], count=int(np.prod(shape))).astype(bool).reshape(shape)
            computed_on = str(stored["frames_sha256"])
        length = min(len(m) for m in out.values())
        if length < len(frames[views[0]]):
            raise DatasetError(f"{path}: masks for {length} frames, the clip has {len(frames[views[0]])}; "
                               f"run {hint} --horizon H for this horizon")
        if frames_digest({v: frames[v][:length] for v in views}, views) != computed_on:
            raise DatasetError(f"{path}: computed from other frames than clip {clip_id}'s; run {hint}")
        return {v: m[: len(frames[v])] for v, m in out.items()}


def attach(task: protocol.TaskSpec, manifest: dict) -> dict:
    """The manifest with the dataset's current SAM masks, when a task uses SAM masks, the dataset
    has none of its own and masks were computed: every clip of the run must have them (a partial
    set is an error naming the command that finishes it, never a silent mask-less run)."""
    if task.mask_source != "sam" or manifest.get("masks") == "available":
        return manifest
    store = MaskStore.current(task.name, source_key(manifest))
    if store is None:
        return manifest
    clip_ids = [c["clip_id"] for c in manifest["clips"]]
    info = store.info
    failed = info.get("failed") or {}  # clips prepare could not mask fail alone when loaded
    missing = [c for c in store.missing(clip_ids) if c not in failed]
    if missing:
        raise PwbenchError(f"SAM masks {store.version} cover {len(clip_ids) - len(missing)} of this run's "
                           f"{len(clip_ids)} clips (first missing: {missing[0]}); finish them with "
                           f"{PREPARE_HINT.format(task=task.name)} (the same checkpoint), or delete "
                           f"{store.base / 'current.json'} to run without masks")
    return {**manifest, "masks": "available", "mask_version": store.version,
            "mask_views": list(info.get("views", []))}

