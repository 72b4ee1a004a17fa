"""The train-split reader: whole episodes at the protocol's 5 Hz and resolution, decoded once.

The eval reader (:mod:`pwbench.data.evalset`) cuts fixed clips out of a few episodes; training
wants every frame of many episodes. Both read through the same LeRobot reader and the same
protocol subsampling and resize, so a model trains on exactly the frames it is scored on. While a
split is still being generated (no ``meta/info.json`` yet) the episodes whose parquet table and
three videos are on disk are read directly. Each episode is cached as one ``.npz`` (uint8 frames
(T, V, H, W, 3), pose (T, 7), instruction), keyed by the table's size and mtime.

Validation: :func:`validation_split` holds out the last episodes of the split; every setting of
a small recipe is chosen on them, never on the eval split.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.resize import resize_frames
from pwbench.data.video import decode_frames
from pwbench.io import atomic_path


@dataclass
class TrainEpisode:
    index: int
    frames: np.ndarray  # uint8 (T, V, H, W, 3)
    pose: np.ndarray  # float32 (T, 7): cartesian xyz, euler xyz, gripper
    instruction: str


def _complete_episodes(root: Path) -> list[int]:
    """Episodes whose table and every view's video exist (and are not being written)."""
    out = []
    for table in sorted(root.glob("data/chunk-*/episode_*.parquet")):
        idx = int(table.stem.split("_")[-1])
        vids = [root / "videos" / table.parent.name / (protocol.VIDEO_KEY_PREFIX + v) / f"{table.stem}.mp4"
                for v in protocol.VIEWS]
        if all(p.is_file() and p.stat().st_size > 0 for p in vids):
            out.append(idx)
    return out


def _read_raw(root: Path, index: int, resolution: tuple[int, int]) -> TrainEpisode:
    chunk = f"chunk-{index // 1000:03d}"
    table = pd.read_parquet(root / "data" / chunk / f"episode_{index:06d}.parquet")
    rows = np.arange(-(-len(table) // protocol.SUBSAMPLE)) * protocol.SUBSAMPLE
    pose = np.concatenate([np.stack(table[name].to_numpy())[rows] for name in protocol.ACTION_FEATURES], axis=1)
    frames = np.stack([resize_frames(decode_frames(
        root / "videos" / chunk / (protocol.VIDEO_KEY_PREFIX + v) / f"episode_{index:06d}.mp4", rows.tolist()),
        resolution) for v in protocol.VIEWS], axis=1)
    instruction = str(table["language_instruction"].iloc[0]) if "language_instruction" in table else ""
    return TrainEpisode(index, frames, pose.astype(np.float32), instruction)


def _read_lerobot(root: Path, index: int, resolution: tuple[int, int]) -> TrainEpisode:
    from pwbench.data.lerobot import LeRobotFolder

    ep = LeRobotFolder(root).load_episode(index, resolution=resolution, with_masks=False)
    frames = np.stack([ep.frames[v] for v in protocol.VIEWS], axis=1)
    return TrainEpisode(index, frames, np.asarray(ep.state, np.float32), ep.instruction)


def load_episodes(root: str | Path, cache: str | Path, resolution: tuple[int, int],
                  max_episodes: int | None = None, progress: bool = True,
                  skip: set[int] | None = None, only: set[int] | None = None) -> list[TrainEpisode]:
    """Complete episodes of ``root`` (the first ``max_episodes``, minus ``skip``, or only those in
    ``only``), decoding only uncached ones."""
    root, cache = Path(root), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    has_meta = (root / "meta" / "info.json").is_file() and (root / "meta" / "episodes.jsonl").is_file()
    complete = _complete_episodes(root)
    if has_meta:  # a split being generated lists only its finished episodes in meta/
        from pwbench.data.lerobot import LeRobotFolder

        listed = set(LeRobotFolder(root).episode_indices)
        complete = [i for i in complete if i in listed]
    indices = [i for i in complete[:max_episodes] if i not in (skip or set()) and (only is None or i in only)]
    if not indices and not skip and only is None:
        raise FileNotFoundError(f"no complete droid-sim episodes under {root}")
    from tqdm import tqdm

    episodes = []
    for idx in tqdm(indices, desc="episodes", disable=not progress):
        table = root / "data" / f"chunk-{idx // 1000:03d}" / f"episode_{idx:06d}.parquet"
        stamp = zlib.crc32(f"{table.stat().st_size}:{table.stat().st_mtime_ns}".encode())  # regenerated -> new key
        path = cache / f"episode_{idx:06d}_{resolution[0]}x{resolution[1]}_{stamp:08x}.npz"
        if path.is_file():
            with np.load(path) as z:
                episodes.append(TrainEpisode(idx, z["frames"], z["pose"], str(z["instruction"])))
            continue
        ep = _read_lerobot(root, idx, resolution) if has_meta else _read_raw(root, idx, resolution)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, frames=ep.frames, pose=ep.pose, instruction=np.array(ep.instruction))
        episodes.append(ep)
    return episodes


def default_train_dir(task: str = "droid-sim") -> Path:
    """Where ``pwbench data sim --split train`` output is looked for (``$PWBENCH_CACHE/<task>/train``)."""
    from pwbench.paths import cache_root

    return cache_root() / task / "train"


def validation_split(indices: list[int], count: int) -> tuple[list[int], list[int]]:
    """(train, validation): the last ``count`` episode indices are held out for validation."""
    if not 0 <= count < len(indices):
        raise ValueError(f"cannot hold out {count} of {len(indices)} episodes for validation")
    ordered = sorted(indices)
    return ordered[: len(ordered) - count], ordered[len(ordered) - count:]
