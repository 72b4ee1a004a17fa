"""A run folder: the run manifest (written first), per-clip records, timings, predictions.

    run.json                 what was run: fingerprint, task, model, horizon, clips, config
    clips/<clip_id>.json     one record per clip (ok or failed), written temp-then-rename
    timing/<clip_id>.json    seconds spent (kept apart so records stay byte-reproducible)
    predictions/<clip_id>.npz  predicted frames, with --save-predictions
    summary.json, drift.png  the aggregate, rebuilt from the records
    fid.json                 optional FID per horizon (`pwbench fid`), never part of the summary
    motion.json              change from the last context frame (`pwbench motion`), likewise

Re-running the same command skips clips whose record is ``ok``; a folder that holds another
fingerprint, model or horizon is refused rather than mixed.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from pwbench import __version__
from pwbench.errors import RunMismatch
from pwbench.io import atomic_write_bytes, atomic_write_json, dumps_json, remove_orphans, utc_timestamp
from pwbench.results.schema import ClipRecord, RunManifest


def git_hash(repo: Path | None = None) -> str:
    """The harness's commit, with ``-dirty`` appended (as ``git describe --dirty`` does) when
    tracked files differ from it: shipped weights are tracked files, so a run made before a weights
    change is committed must not claim the commit it does not match. ``unknown`` outside git."""
    cwd = repo or Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if not head:
        return "unknown"
    changes = git("status", "--porcelain", "--untracked-files=no")
    return head if changes == "" else f"{head}-dirty"  # None (status failed): not known clean


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "torch": torch.__version__, "cpu": cpu, "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.clips = self.path / "clips"
        self.timing = self.path / "timing"
        self.predictions = self.path / "predictions"
        self._manifest: RunManifest | None = None

    @property
    def manifest_path(self) -> Path:
        return self.path / "run.json"

    @property
    def fid_path(self) -> Path:
        return self.path / "fid.json"

    @property
    def motion_path(self) -> Path:
        return self.path / "motion.json"

    def read_manifest(self) -> RunManifest:
        if not self.manifest_path.is_file():
            raise RunMismatch(f"{self.path} is not a pwbench run folder (no run.json)")
        return RunManifest.read(self.manifest_path)

    def check(self, manifest: RunManifest) -> None:
        """Refuse (RunMismatch) if the folder holds a run with another identity; writes nothing."""
        if not self.manifest_path.is_file():
            return
        existing = self.read_manifest()
        key = existing.differs(manifest)
        if key is not None:
            raise RunMismatch(
                f"{self.path} holds a run with {key}={getattr(existing, key)!r}, this command has "
                f"{getattr(manifest, key)!r}; refusing to mix them (use another --out)")

    def open(self, manifest: RunManifest) -> None:
        """Write the run manifest, or check that an existing one describes the same run (and
        clear the temp files a killed run left; call before any rollout writes)."""
        if self.manifest_path.is_file():
            self.check(manifest)
            for folder in (self.path, self.clips, self.timing, self.predictions):
                remove_orphans(folder)
            return
        manifest = manifest.replace(harness_version=__version__, git_hash=git_hash(), machine=machine(),
                                    created=utc_timestamp())
        atomic_write_json(self.manifest_path, manifest.to_json())

    def open_model(self, spec: dict[str, Any]) -> None:
        """Write ``model.json`` (the model's spec), or refuse if the folder's differs: a resumed
        run must be continued by the same model (same weights facts, same sampler settings)."""
        path = self.path / "model.json"
        if path.is_file():
            existing, new = _read_json(path), json.loads(dumps_json(spec))  # compared as written
            if existing != new:
                changed = sorted(k for k in set(existing) | set(new) if existing.get(k) != new.get(k))
                raise RunMismatch(f"{path}: the model that started this run differs from this one "
                                  f"(fields {', '.join(changed)}); refusing to mix them (use another --out)")
            return
        atomic_write_json(path, spec)

    def model_spec(self) -> dict[str, Any]:
        path = self.path / "model.json"
        return _read_json(path) if path.is_file() else {}

    def record_path(self, clip_id: str) -> Path:
        return self.clips / f"{clip_id}.json"

    def read_record(self, clip_id: str) -> ClipRecord | None:
        """The clip's record, checked against its schema and this folder's run (a foreign one is
        refused); None if there is none yet."""
        path = self.record_path(clip_id)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # cannot happen with atomic writes, but never trust a half file: redo the clip
        record = ClipRecord.from_json(data, str(path))
        if self._manifest is None:
            self._manifest = self.read_manifest()
        record.belongs_to(self._manifest, clip_id, str(path))
        return record

    def is_done(self, clip_id: str) -> bool:
        record = self.read_record(clip_id)
        return record is not None and record.ok

    def write_record(self, record: ClipRecord, timing: dict[str, Any] | None = None) -> None:
        if timing is not None:
            atomic_write_json(self.timing / f"{record.clip_id}.json", timing)
        atomic_write_json(self.record_path(record.clip_id), record.to_json())

    def records(self, clip_ids: list[str]) -> dict[str, ClipRecord]:
        found = {}
        for clip_id in clip_ids:
            record = self.read_record(clip_id)
            if record is not None:
                found[clip_id] = record
        return found

    def timings(self) -> list[dict[str, Any]]:
        if not self.timing.is_dir():
            return []
        return [_read_json(p) for p in sorted(self.timing.glob("*.json"))]

    def save_predictions(self, clip_id: str, frames: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **frames)
        atomic_write_bytes(self.predictions / f"{clip_id}.npz", buffer.getvalue())


def _read_json(path: Path) -> Any:
    """A JSON file of the run folder; a bad one is an error that names it."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunMismatch(f"{path}: unreadable ({err}); delete it to redo that part of the run") from err
