"""Reader for a local dataset in LeRobot's v2.1 per-episode layout (DROID and droid-sim).

Layout (what ``cadene/droid_1.0.1`` and pwbench's droid-sim use)::

    meta/info.json                 fps, features, path templates, chunks_size
    meta/episodes.jsonl            {"episode_index", "tasks", "length"} per line
    data/chunk-XXX/episode_XXXXXX.parquet
    videos/chunk-XXX/<video_key>/episode_XXXXXX.mp4
    masks/chunk-XXX/episode_XXXXXX.npz   (pwbench extension, droid-sim only; see info.json)

An episode is returned at the protocol's 5 Hz (every 3rd source frame, phase 0 at the first)
and resized to the task's resolution, so everything downstream speaks protocol units.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.resize import resize_frames, resize_labels
from pwbench.data.video import decode_frames
from pwbench.errors import DatasetError

DEFAULT_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
DEFAULT_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
OBJECT_CENTRIC_MIN_LABEL = 2  # droid-sim labels: 0 background, 1 table, 2 robot, 3+ objects


@dataclass
class Episode:
    """One episode (or the first frames of one) in protocol units."""

    index: int
    instruction: str
    frames: dict[str, np.ndarray]  # view -> uint8 (T, H, W, 3) at 5 Hz
    state: np.ndarray  # (T, 7) float32: cartesian xyz + euler xyz + gripper
    joints: np.ndarray  # (T, 7) float32
    masks: dict[str, np.ndarray] | None  # view -> bool (T, H, W): robot ∪ objects


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"missing {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise DatasetError(f"{path}:{n}: not valid JSON ({err})") from err
    return rows


class LeRobotFolder:
    """A local LeRobot v2.1 dataset folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        info_path = self.root / "meta" / "info.json"
        if not info_path.is_file():
            raise DatasetError(f"{self.root} is not a LeRobot dataset: missing {info_path}")
        try:
            self.info = json.loads(info_path.read_text())
        except json.JSONDecodeError as err:
            raise DatasetError(f"{info_path}: not valid JSON ({err})") from err
        version = str(self.info.get("codebase_version", ""))
        if not version.startswith("v2"):
            raise DatasetError(f"{info_path}: codebase_version {version!r} is not the v2.x per-episode layout")
        if "fps" not in self.info:
            raise DatasetError(f"{info_path}: no 'fps' field; the protocol needs {protocol.SOURCE_FPS} Hz source data")
        self.fps = int(self.info["fps"])
        if self.fps != protocol.SOURCE_FPS:
            raise DatasetError(f"{info_path}: fps {self.fps}, the protocol expects {protocol.SOURCE_FPS}")
        self.chunks_size = int(self.info.get("chunks_size", 1000))
        self.episodes = {int(r["episode_index"]): r for r in _read_jsonl(self.root / "meta" / "episodes.jsonl")}

    @property
    def episode_indices(self) -> list[int]:
        return sorted(self.episodes)

    def length(self, index: int) -> int:
        """Source frames (15 Hz) in an episode, from meta/episodes.jsonl."""
        return int(self._episode(index)["length"])

    def length_5hz(self, index: int) -> int:
        return -(-self.length(index) // protocol.SUBSAMPLE)

    def _episode(self, index: int) -> dict:
        if index not in self.episodes:
            raise DatasetError(f"{self.root}: no episode {index} in meta/episodes.jsonl")
        return self.episodes[index]

    def _path(self, template: str, index: int, **extra: str) -> Path:
        chunk = index // self.chunks_size
        return self.root / template.format(episode_chunk=chunk, episode_index=index, **extra)

    def data_path(self, index: int) -> Path:
        return self._path(self.info.get("data_path", DEFAULT_DATA_PATH), index)

    def video_path(self, index: int, view: str) -> Path:
        key = protocol.VIDEO_KEY_PREFIX + view
        return self._path(self.info.get("video_path", DEFAULT_VIDEO_PATH), index, video_key=key)

    def read_table(self, index: int) -> pd.DataFrame:
        path = self.data_path(index)
        if not path.is_file():
            raise DatasetError(f"missing episode table {path}")
        try:
            return pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several unrelated types for a bad file
            raise DatasetError(f"{path}: cannot read parquet ({err})") from err

    def instruction(self, index: int, table: pd.DataFrame | None = None) -> str:
        if table is not None and "language_instruction" in table.columns and len(table):
            return str(table["language_instruction"].iloc[0])
        tasks = self._episode(index).get("tasks") or [""]
        return str(tasks[0])

    def load_episode(self, index: int, resolution: tuple[int, int], num_frames: int | None = None,
                     views: tuple[str, ...] = protocol.VIEWS, with_masks: bool = True) -> Episode:
        """The first ``num_frames`` 5 Hz frames (all when None) of an episode, resized."""
        table = self.read_table(index)
        available = -(-len(table) // protocol.SUBSAMPLE)
        n = available if num_frames is None else num_frames
        if n > available:
            raise DatasetError(f"episode {index} of {self.root} has {available} frames at {protocol.FPS} Hz, "
                               f"{n} are needed")
        rows = np.arange(n) * protocol.SUBSAMPLE
        state = np.concatenate([_column(table, name, rows, self.data_path(index))
                                for name in protocol.ACTION_FEATURES], axis=1)
        joints = _column(table, protocol.JOINT_FEATURE, rows, self.data_path(index))
        if state.shape[1] != protocol.ACTION_DIM or joints.shape[1] != protocol.JOINT_DIM:
            raise DatasetError(f"{self.data_path(index)}: state has {state.shape[1]} dims and joints "
                               f"{joints.shape[1]}, expected {protocol.ACTION_DIM} and {protocol.JOINT_DIM}")
        frames = {v: resize_frames(decode_frames(self.video_path(index, v), rows.tolist()), resolution)
                  for v in views}
        masks = self._masks(index, rows, resolution, views) if with_masks else None
        return Episode(index, self.instruction(index, table), frames, state, joints, masks)

    def _masks(self, index: int, rows: np.ndarray, resolution: tuple[int, int],
               views: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        spec = self.info.get("pwbench_masks")
        if not spec:
            return None
        path = self._path(spec["path"], index)
        stride = int(spec.get("stride", 1))
        if np.any(rows % stride):
            raise DatasetError(f"{path}: masks stored every {stride} frames cannot give frames {rows.tolist()}")
        first_object = int(spec.get("object_labels_from", OBJECT_CENTRIC_MIN_LABEL + 1))
        robot = int(spec.get("labels", {}).get("robot", OBJECT_CENTRIC_MIN_LABEL))
        if not path.is_file():
            raise DatasetError(f"missing mask file {path}")
        try:
            with np.load(path) as stored:
                out = {}
                for view in views:
                    labels = stored[view][rows // stride]
                    labels = resize_labels(labels, resolution)
                    out[view] = (labels == robot) | (labels >= first_object)
        except (KeyError, IndexError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise DatasetError(f"{path}: bad mask file ({type(err).__name__}: {err})") from err
        return out


def _column(table: pd.DataFrame, name: str, rows: np.ndarray, path: Path) -> np.ndarray:
    if name not in table.columns:
        raise DatasetError(f"{path}: missing column {name!r}")
    values = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in table[name].to_numpy()[rows]])
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{path}: column {name!r} has NaN or inf")
    return values
