"""What every dataset layout gives the harness: episodes in protocol units.

pwbench reads DROID-like data in several layouts (LeRobot v2.1 and v3.0, Ctrl-World's processed
folders; see :mod:`pwbench.data.sources`). Each is an :class:`EpisodeSource`: it lists its
episodes with their lengths, says which files an episode needs (for partial downloads) and
returns an :class:`Episode` at the protocol's 5 Hz and the task's resolution. Everything
downstream — the eval-set rule, the frame cache, the scorer — sees only this interface, so the
layouts cannot disagree about subsampling, resizing or what a missing file means.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.resize import resize_frames
from pwbench.errors import DatasetError


@dataclass
class Episode:
    """One episode (or the first frames of one) in protocol units."""

    index: int
    instruction: str
    frames: dict[str, np.ndarray]  # view -> uint8 (T, H, W, 3) at 5 Hz
    state: np.ndarray  # (T, 7) float32: cartesian xyz + euler xyz + gripper
    joints: np.ndarray  # (T, 7) float32
    masks: dict[str, np.ndarray] | None  # view -> bool (T, H, W): robot ∪ objects (SAM: exterior views only)


@dataclass
class EpisodeTable:
    """What a layout reads from an episode's table: the rows a clip needs, and the times of all
    its frames (relative to the first; None when the layout stores none) to check videos against."""

    state: np.ndarray  # (n, 7) at the wanted rows
    joints: np.ndarray  # (n, 7)
    instruction: str
    timestamps: np.ndarray | None = None  # (length,) seconds


class EpisodeSource(ABC):
    """A dataset in one layout. Subclasses read tables and videos; this class owns the rule that
    turns them into protocol frames (every ``step``-th source frame, phase 0, then the resize)."""

    layout: str = ""  # e.g. "lerobot-v2.1"
    remote = None  # a pwbench.data.hub.HubLocation when the folder is a Hub snapshot
    shipped = False  # the droid-sim eval split inside the package (no machine's path is recorded)

    def __init__(self, root: Path, fps: float, dataset_id: str | None) -> None:
        self.root = Path(root)
        if fps <= 0 or fps % protocol.FPS:
            raise DatasetError(f"{self.root}: {fps:g} fps is not a multiple of the protocol's {protocol.FPS} Hz")
        self.fps = int(fps)
        self.step = self.fps // protocol.FPS  # 3 for DROID's 15 Hz, 1 for data already at 5 Hz
        self.dataset_id = dataset_id or f"local:{self.layout}"

    # --- what a layout provides ---------------------------------------------------------------
    @property
    @abstractmethod
    def episode_indices(self) -> list[int]: ...

    @abstractmethod
    def length(self, index: int) -> int:
        """Frames of an episode at the source rate, from the metadata (no file is opened)."""

    @abstractmethod
    def files(self, index: int, views: tuple[str, ...] = protocol.VIEWS) -> list[str]:
        """The files (relative to the root) an episode's clip needs."""

    @abstractmethod
    def _table(self, index: int, rows: np.ndarray) -> EpisodeTable:
        """State, joints and instruction at the given source rows (and the frame times)."""

    @abstractmethod
    def _frames(self, index: int, view: str, rows: np.ndarray, table: EpisodeTable) -> np.ndarray:
        """uint8 (n, H, W, 3) source frames at the given rows, checked against the table."""

    @property
    def has_masks(self) -> bool:
        return False

    def _masks(self, index: int, rows: np.ndarray, resolution: tuple[int, int],
               views: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        return None

    # --- shared -------------------------------------------------------------------------------
    def length_5hz(self, index: int) -> int:
        return -(-self.length(index) // self.step)

    def files_present(self, index: int, views: tuple[str, ...] = protocol.VIEWS) -> bool:
        """Whether every file of the episode (table and each view's video) exists and is not empty."""
        return all((self.root / rel).is_file() and (self.root / rel).stat().st_size > 0
                   for rel in self.files(index, views))

    def describe(self) -> dict:
        """The source as recorded in the eval-set manifest: layout, id and where it was read."""
        where = (self.remote.describe() if self.remote is not None else
                 {"shipped": "pwbench/data/droid_sim/eval"} if self.shipped else {"path": str(self.root)})
        return {"layout": self.layout, "dataset_id": self.dataset_id, **where}

    def load_episode(self, index: int, resolution: tuple[int, int], num_frames: int | None = None,
                     views: tuple[str, ...] = protocol.VIEWS, with_masks: bool = True) -> Episode:
        """The first ``num_frames`` 5 Hz frames (all when None) of an episode, resized."""
        available = self.length_5hz(index)
        n = available if num_frames is None else num_frames
        if n > available:
            raise DatasetError(f"episode {index} of {self.root} has {available} frames at {protocol.FPS} Hz, "
                               f"{n} are needed")
        rows = np.arange(n) * self.step
        table = self._table(index, rows)
        state, joints = table.state, table.joints
        if state.shape != (n, protocol.ACTION_DIM) or joints.shape != (n, protocol.JOINT_DIM):
            raise DatasetError(f"episode {index} of {self.root}: state {state.shape} and joints {joints.shape}, "
                               f"expected ({n}, {protocol.ACTION_DIM}) and ({n}, {protocol.JOINT_DIM})")
        frames = {v: resize_frames(self._frames(index, v, rows, table), resolution) for v in views}
        masks = self._masks(index, rows, resolution, views) if with_masks else None
        return Episode(index, table.instruction, frames, state, joints, masks)


def table_column(table: pd.DataFrame, name: str, rows: np.ndarray, where: str | Path) -> np.ndarray:
    """float32 (len(rows), D) of a per-frame vector column, checked for presence and finiteness."""
    if name not in table.columns:
        raise DatasetError(f"{where}: missing column {name!r}")
    if len(rows) and rows[-1] >= len(table):
        raise DatasetError(f"{where}: {len(table)} rows, row {int(rows[-1])} needed")
    values = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in table[name].to_numpy()[rows]])
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{where}: column {name!r} has NaN or inf")
    return values


def table_state(table: pd.DataFrame, rows: np.ndarray, where: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The protocol's state (cartesian + gripper) and joints from a LeRobot DROID table."""
    state = np.concatenate([table_column(table, name, rows, where) for name in protocol.ACTION_FEATURES], axis=1)
    return state, table_column(table, protocol.JOINT_FEATURE, rows, where)


def read_parquet(path: Path, what: str, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{what}: missing table {path}")
    try:
        return pd.read_parquet(path, **kwargs)
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise DatasetError(f"{what}: {path}: cannot read parquet ({err})") from err


def relative_timestamps(table: pd.DataFrame) -> np.ndarray | None:
    """The table's per-frame times from the episode's first frame (None without a column)."""
    if "timestamp" not in table.columns or not len(table):
        return None
    times = table["timestamp"].to_numpy(dtype=np.float64)
    return times - times[0]
