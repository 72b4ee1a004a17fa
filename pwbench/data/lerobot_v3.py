"""Reader for LeRobot's v3.0 packed layout (``lerobot/droid_1.0.1``).

Episodes are concatenated into shared files; the episodes metadata says where each one lives::

    meta/info.json                                  fps, features, path templates
    meta/episodes/chunk-XXX/file-XXX.parquet        one row per episode: length, tasks,
        data/chunk_index, data/file_index, dataset_from_index, dataset_to_index,
        videos/<key>/chunk_index, videos/<key>/file_index, videos/<key>/from_timestamp, .../to_timestamp
    data/chunk-XXX/file-XXX.parquet                 rows of many episodes (global column ``index``)
    videos/<key>/chunk-XXX/file-XXX.mp4             many episodes back to back

An episode's rows are selected by the global ``index`` range (the ``episode_index`` column of
the DROID port is reported not to be unique), its frames by time from ``from_timestamp``.
Episode indices are this dataset's own: whether they equal ``cadene/droid_1.0.1``'s is not
confirmed, so a v3.0 eval set is its own dataset id and fingerprint (docs/protocol.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.episode import EpisodeSource, EpisodeTable, read_parquet, relative_timestamps, table_state
from pwbench.data.lerobot import read_info
from pwbench.data.video import VideoSpec, decode_frames
from pwbench.errors import DatasetError

DEFAULT_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DEFAULT_VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_GLOB = "meta/episodes/chunk-*/file-*.parquet"
META_FILES = ("meta/info.json", "meta/episodes/*")
TABLE_COLUMNS = (*protocol.ACTION_FEATURES, protocol.JOINT_FEATURE, "timestamp", "index", "language_instruction")


def episode_columns(views: tuple[str, ...] = protocol.VIEWS) -> list[str]:
    """The episodes-metadata columns pwbench reads (not the per-episode statistics beside them)."""
    cols = ["episode_index", "length", "tasks", "data/chunk_index", "data/file_index",
            "dataset_from_index", "dataset_to_index"]
    for view in views:
        key = protocol.VIDEO_KEY_PREFIX + view
        cols += [f"videos/{key}/{c}" for c in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")]
    return cols


def read_episodes_metadata(root: Path, views: tuple[str, ...] = protocol.VIEWS) -> pd.DataFrame:
    files = sorted(Path(root).glob(EPISODES_GLOB))
    if not files:
        raise DatasetError(f"{root}: no episodes metadata ({EPISODES_GLOB})")
    cols = episode_columns(views)
    parts = []
    for path in files:
        try:
            table = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several unrelated types
            raise DatasetError(f"{path}: cannot read parquet ({err})") from err
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise DatasetError(f"{path}: episodes metadata lacks {missing[:4]}{' ...' if len(missing) > 4 else ''}")
        parts.append(table[cols])
    table = pd.concat(parts, ignore_index=True)
    if table["episode_index"].duplicated().any():
        dup = int(table.loc[table["episode_index"].duplicated(), "episode_index"].iloc[0])
        raise DatasetError(f"{root}: episode {dup} appears twice in the episodes metadata")
    return table.set_index("episode_index", drop=False)


def _present(path: Path, columns: tuple[str, ...], index: int) -> list[str]:
    """Those of ``columns`` the file has (read from its schema), so only they are loaded."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DatasetError(f"episode {index}: missing table {path}")
    try:
        names = set(pq.read_schema(path).names)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise DatasetError(f"episode {index}: {path}: cannot read parquet ({err})") from err
    return [c for c in columns if c in names]


class LeRobotV3Folder(EpisodeSource):
    """A LeRobot v3.0 dataset folder (episodes packed into shared parquet and mp4 files)."""

    layout = "lerobot-v3.0"

    def __init__(self, root: str | Path, dataset_id: str | None = None) -> None:
        root = Path(root)
        self.info = read_info(root)
        version = str(self.info.get("codebase_version", ""))
        if not version.startswith("v3"):
            raise DatasetError(f"{root / 'meta' / 'info.json'}: codebase_version {version!r} is not v3.x")
        super().__init__(root, float(self.info["fps"]), dataset_id)
        self.episodes = read_episodes_metadata(root)

    @property
    def episode_indices(self) -> list[int]:
        return sorted(int(i) for i in self.episodes.index)

    def _row(self, index: int) -> pd.Series:
        if index not in self.episodes.index:
            raise DatasetError(f"{self.root}: no episode {index} in the episodes metadata")
        return self.episodes.loc[index]

    def length(self, index: int) -> int:
        return int(self._row(index)["length"])

    def data_path(self, index: int) -> Path:
        row = self._row(index)
        return self.root / self.info.get("data_path", DEFAULT_DATA_PATH).format(
            chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))

    def video_path(self, index: int, view: str) -> Path:
        row, key = self._row(index), protocol.VIDEO_KEY_PREFIX + view
        return self.root / self.info.get("video_path", DEFAULT_VIDEO_PATH).format(
            video_key=key, chunk_index=int(row[f"videos/{key}/chunk_index"]),
            file_index=int(row[f"videos/{key}/file_index"]))

    def files(self, index: int, views: tuple[str, ...] = protocol.VIEWS) -> list[str]:
        paths = [self.data_path(index), *(self.video_path(index, v) for v in views)]
        return [p.relative_to(self.root).as_posix() for p in paths]

    def _table(self, index: int, rows: np.ndarray) -> EpisodeTable:
        row, path = self._row(index), self.data_path(index)
        lo, hi = int(row["dataset_from_index"]), int(row["dataset_to_index"])
        if hi - lo != self.length(index):
            raise DatasetError(f"episode {index}: episodes metadata has length {self.length(index)} but "
                               f"rows {lo}..{hi}")
        table = read_parquet(path, f"episode {index}", columns=_present(path, TABLE_COLUMNS, index),
                             filters=[("index", ">=", lo), ("index", "<", hi)])
        table = table.sort_values("index", kind="stable").reset_index(drop=True)
        if len(table) != hi - lo:
            raise DatasetError(f"episode {index}: {path} holds {len(table)} of its rows {lo}..{hi}")
        state, joints = table_state(table, rows, path)
        tasks = row["tasks"]
        instruction = (str(table["language_instruction"].iloc[0]) if "language_instruction" in table.columns
                       else str(list(tasks)[0]) if tasks is not None and len(tasks) else "")
        return EpisodeTable(state, joints, instruction, relative_timestamps(table))

    def _frames(self, index: int, view: str, rows: np.ndarray, table: EpisodeTable) -> np.ndarray:
        row, key = self._row(index), protocol.VIDEO_KEY_PREFIX + view
        start, stop = float(row[f"videos/{key}/from_timestamp"]), float(row[f"videos/{key}/to_timestamp"])
        what = f"episode {index} {view}"
        if abs((stop - start) * self.fps - self.length(index)) > 0.5:
            raise DatasetError(f"{what}: the metadata's video span {start:.3f}-{stop:.3f} s holds "
                               f"{(stop - start) * self.fps:.1f} frames at {self.fps} fps, the episode has "
                               f"{self.length(index)}")
        spec = VideoSpec(fps=self.fps, frames=self.length(index), start=start, packed=True,
                         timestamps=table.timestamps, what=what)
        return decode_frames(self.video_path(index, view), rows.tolist(), spec)
