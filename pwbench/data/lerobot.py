"""Reader for LeRobot's v2.1 per-episode layout (``cadene/droid_1.0.1``, pwbench's droid-sim).

Layout::

    meta/info.json                 fps, features, path templates, chunks_size
    meta/episodes.jsonl            {"episode_index", "tasks", "length"} per line
    data/chunk-XXX/episode_XXXXXX.parquet
    videos/chunk-XXX/<video_key>/episode_XXXXXX.mp4
    masks/chunk-XXX/episode_XXXXXX.npz   (pwbench extension, droid-sim only; see info.json)

Only ``meta/info.json`` and ``meta/episodes.jsonl`` are read from ``meta/`` (DROID's
``episodes_stats.jsonl`` is about 1 GB and never needed).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.episode import Episode, EpisodeSource, EpisodeTable, read_parquet, relative_timestamps, table_state
from pwbench.data.resize import resize_labels
from pwbench.data.video import VideoSpec, decode_frames
from pwbench.errors import DatasetError

__all__ = ["Episode", "LeRobotFolder", "read_info", "read_jsonl"]

DEFAULT_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
DEFAULT_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
OBJECT_CENTRIC_MIN_LABEL = 2  # droid-sim labels: 0 background, 1 table, 2 robot, 3+ objects
META_FILES = ("meta/info.json", "meta/episodes.jsonl")


def read_jsonl(path: Path) -> list[dict]:
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


def read_info(root: Path) -> dict:
    """meta/info.json, with a one-line error naming the file when it is missing or not JSON."""
    path = Path(root) / "meta" / "info.json"
    if not path.is_file():
        raise DatasetError(f"{root} is not a LeRobot dataset: missing {path}")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: not valid JSON ({err})") from err
    if "fps" not in info:
        raise DatasetError(f"{path}: no 'fps' field")
    return info


class LeRobotFolder(EpisodeSource):
    """A LeRobot v2.1 dataset folder (a parquet and one mp4 per view for each episode)."""

    layout = "lerobot-v2.1"

    def __init__(self, root: str | Path, dataset_id: str | None = None) -> None:
        root = Path(root)
        self.info = read_info(root)
        version = str(self.info.get("codebase_version", ""))
        if not version.startswith("v2"):
            raise DatasetError(f"{root / 'meta' / 'info.json'}: codebase_version {version!r} is not the v2.x "
                               "per-episode layout")
        super().__init__(root, float(self.info["fps"]), dataset_id)
        self.chunks_size = int(self.info.get("chunks_size", 1000))
        self.episodes = {int(r["episode_index"]): r for r in read_jsonl(self.root / "meta" / "episodes.jsonl")}

    @property
    def episode_indices(self) -> list[int]:
        return sorted(self.episodes)

    def length(self, index: int) -> int:
        return int(self._episode(index)["length"])

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

    def files(self, index: int, views: tuple[str, ...] = protocol.VIEWS) -> list[str]:
        paths = [self.data_path(index), *(self.video_path(index, v) for v in views)]
        return [p.relative_to(self.root).as_posix() for p in paths]

    def read_table(self, index: int) -> pd.DataFrame:
        return read_parquet(self.data_path(index), f"episode {index}")

    def instruction(self, index: int, table: pd.DataFrame | None = None) -> str:
        if table is not None and "language_instruction" in table.columns and len(table):
            return str(table["language_instruction"].iloc[0])
        tasks = self._episode(index).get("tasks") or [""]
        return str(tasks[0])

    def _table(self, index: int, rows: np.ndarray) -> EpisodeTable:
        table = self.read_table(index)
        if len(table) != self.length(index):
            raise DatasetError(f"episode {index}: {self.data_path(index)} has {len(table)} rows, "
                               f"meta/episodes.jsonl says {self.length(index)}")
        state, joints = table_state(table, rows, self.data_path(index))
        return EpisodeTable(state, joints, self.instruction(index, table), relative_timestamps(table))

    def _frames(self, index: int, view: str, rows: np.ndarray, table: EpisodeTable) -> np.ndarray:
        spec = VideoSpec(fps=self.fps, frames=self.length(index), timestamps=table.timestamps,
                         what=f"episode {index} {view}")
        return decode_frames(self.video_path(index, view), rows.tolist(), spec)

    @property
    def has_masks(self) -> bool:
        return bool(self.info.get("pwbench_masks"))

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

