"""LeRobot v2.1 writer (DROID feature names) with per-episode atomic writes and resume.

Each episode's files (parquet, three mp4s, masks npz) are written into ``.tmp/`` first and then
renamed into place; ``meta/pwbench_sim/episode_XXXXXX.json`` is renamed last and marks the episode
complete, so a killed generation resumes by skipping complete episodes. The aggregate metadata
(``meta/info.json``, ``episodes.jsonl``, ``tasks.jsonl``, ``stats.json``,
``episodes_stats.jsonl``) always describes the complete episodes 0..N-1 and is rewritten
atomically by :func:`finalize` (called every few episodes and at the end).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pwbench import protocol
from pwbench.io import atomic_write_bytes

from .encode import DEFAULT_CRF, write_video
from .render import LABELS

CHUNKS_SIZE = 1000
MASK_STRIDE = protocol.SUBSAMPLE
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
MASK_PATH = "masks/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.npz"
MARKER_PATH = "meta/pwbench_sim/episode_{episode_index:06d}.json"
H, W = 180, 320

VECTOR_FEATURES: dict[str, list[str]] = {
    "observation.state.cartesian_position": ["x", "y", "z", "roll", "pitch", "yaw"],
    "observation.state.gripper_position": ["gripper_position"],
    "observation.state.joint_position": [f"joint_{i}" for i in range(7)],
    "observation.state": [f"joint_{i}" for i in range(7)] + ["gripper_position"],
    "action.cartesian_position": ["x", "y", "z", "roll", "pitch", "yaw"],
    "action.gripper_position": ["gripper_position"],
    "action.joint_position": [f"joint_{i}" for i in range(7)],
    "action": [f"joint_{i}" for i in range(7)] + ["gripper_position"],
}
SCALAR_FEATURES = {"timestamp": "float32", "frame_index": "int64", "episode_index": "int64",
                   "index": "int64", "task_index": "int64", "is_first": "bool", "is_last": "bool"}


def features() -> dict:
    feats: dict = {}
    for view in protocol.VIEWS:
        feats[protocol.VIDEO_KEY_PREFIX + view] = {
            "dtype": "video", "shape": [H, W, 3], "names": ["height", "width", "channel"],
            "info": {"video.fps": protocol.SOURCE_FPS, "video.height": H, "video.width": W,
                     "video.channels": 3, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                     "video.is_depth_map": False, "has_audio": False},
        }
    for name, names in VECTOR_FEATURES.items():
        feats[name] = {"dtype": "float32", "shape": [len(names)], "names": names}
    feats["language_instruction"] = {"dtype": "string", "shape": [1], "names": None}
    for name, dtype in SCALAR_FEATURES.items():
        feats[name] = {"dtype": dtype, "shape": [1], "names": None}
    return feats


def _fmt(template: str, index: int, **kw) -> str:
    return template.format(episode_chunk=index // CHUNKS_SIZE, episode_index=index, **kw)


def episode_table(index: int, global_start: int, task_index: int, instruction: str,
                  columns: dict[str, np.ndarray]) -> pa.Table:
    n = len(columns["observation.state.joint_position"])
    arrays, fields = [], []
    for name, names in VECTOR_FEATURES.items():
        values = np.asarray(columns[name], dtype=np.float32).reshape(n, len(names))
        typ = pa.list_(pa.float32(), len(names))
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), len(names)))
        fields.append(pa.field(name, typ))
    arrays.append(pa.array([instruction] * n, pa.string()))
    fields.append(pa.field("language_instruction", pa.string()))
    frame = np.arange(n)
    scalars = {
        "timestamp": (frame / protocol.SOURCE_FPS).astype(np.float32),
        "frame_index": frame.astype(np.int64),
        "episode_index": np.full(n, index, np.int64),
        "index": (global_start + frame).astype(np.int64),
        "task_index": np.full(n, task_index, np.int64),
        "is_first": frame == 0,
        "is_last": frame == n - 1,
    }
    for name, dtype in SCALAR_FEATURES.items():
        arrays.append(pa.array(scalars[name], {"float32": pa.float32(), "int64": pa.int64(),
                                               "bool": pa.bool_()}[dtype]))
        fields.append(pa.field(name, arrays[-1].type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _numeric_stats(values: np.ndarray) -> dict:
    """min/max/mean/std/q01/q99 per column; sums by math.fsum so they are bit-stable across runs."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    n = len(v)
    mean = [math.fsum(col) / n for col in v.T]
    std = [math.sqrt(math.fsum((col - m) ** 2) / n) for col, m in zip(v.T, mean, strict=True)]
    srt = np.sort(v, axis=0)
    return {"min": srt[0].tolist(), "max": srt[-1].tolist(), "mean": mean, "std": std,
            "q01": np.quantile(srt, 0.01, axis=0).tolist(), "q99": np.quantile(srt, 0.99, axis=0).tolist(),
            "count": [int(n)]}


def _image_stats(frames: np.ndarray) -> dict:
    """LeRobot-style per-channel image stats (in [0, 1], shaped (3, 1, 1)) from a few frames."""
    sub = frames[:: max(1, len(frames) // 20)]
    flat = sub.reshape(-1, 3).astype(np.int64)  # exact integer moments: bit-stable
    n = len(flat)
    s1 = flat.sum(0)
    s2 = (flat * flat).sum(0)
    mean = s1 / n
    var = np.maximum(s2 / n - mean**2, 0.0)

    def c(x):
        return [[[float(t)]] for t in x]
    return {"min": c(flat.min(0) / 255.0), "max": c(flat.max(0) / 255.0), "mean": c(mean / 255.0),
            "std": c(np.sqrt(var) / 255.0), "count": [int(len(sub))]}


class DatasetWriter:
    def __init__(self, root: str | Path, split: str, crf: int = DEFAULT_CRF):
        self.root = Path(root)
        self.split = split
        self.crf = crf
        (self.root / "meta").mkdir(parents=True, exist_ok=True)

    def marker(self, index: int) -> Path:
        return self.root / _fmt(MARKER_PATH, index)

    def episode_files(self, index: int) -> list[Path]:
        files = [self.root / _fmt(DATA_PATH, index), self.root / _fmt(MASK_PATH, index)]
        files += [self.root / _fmt(VIDEO_PATH, index, video_key=protocol.VIDEO_KEY_PREFIX + v)
                  for v in protocol.VIEWS]
        return files

    def is_complete(self, index: int) -> bool:
        return self.marker(index).is_file() and all(p.is_file() for p in self.episode_files(index))

    def read_marker(self, index: int) -> dict:
        return json.loads(self.marker(index).read_text())

    def task_map(self, upto: int) -> dict[str, int]:
        """Instruction -> task index, in order of first appearance over episodes 0..upto-1."""
        tasks: dict[str, int] = {}
        for i in range(upto):
            instr = self.read_marker(i)["instruction"]
            tasks.setdefault(instr, len(tasks))
        return tasks

    def write_episode(self, index: int, episode: dict, global_start: int, task_index: int) -> dict:
        """Write one episode atomically; returns its marker record."""
        tmp = self.root / ".tmp" / f"episode_{index:06d}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        n = len(episode["columns"]["observation.state.joint_position"])
        table = episode_table(index, global_start, task_index, episode["instruction"], episode["columns"])
        pq.write_table(table, tmp / "data.parquet")
        for view in protocol.VIEWS:
            write_video(tmp / f"{view}.mp4", episode["frames"][view], self.crf)
        np.savez_compressed(tmp / "masks.npz", **{v: episode["labels"][v] for v in protocol.VIEWS})
        stats = {name: _numeric_stats(episode["columns"][name]) for name in VECTOR_FEATURES}
        stats |= {name: _image_stats(episode["frames"][v])
                  for v in protocol.VIEWS for name in [protocol.VIDEO_KEY_PREFIX + v]}
        record = {"episode_index": index, "length": n, "instruction": episode["instruction"],
                  "task_index": task_index, "global_start": global_start, "split": self.split,
                  "sim": episode["info"], "stats": stats}
        (tmp / "marker.json").write_text(json.dumps(record, sort_keys=True))
        moves = [(tmp / "data.parquet", self.root / _fmt(DATA_PATH, index)),
                 (tmp / "masks.npz", self.root / _fmt(MASK_PATH, index))]
        moves += [(tmp / f"{v}.mp4", self.root / _fmt(VIDEO_PATH, index, video_key=protocol.VIDEO_KEY_PREFIX + v))
                  for v in protocol.VIEWS]
        moves.append((tmp / "marker.json", self.marker(index)))  # last: marks the episode complete
        for src, dst in moves:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        shutil.rmtree(tmp, ignore_errors=True)
        return record

    def complete_prefix(self) -> int:
        n = 0
        while self.is_complete(n):
            n += 1
        return n

    def finalize(self, extra_info: dict | None = None) -> int:
        """Rewrite the aggregate metadata for the complete episodes 0..N-1; returns N."""
        n_ep = self.complete_prefix()
        records = [self.read_marker(i) for i in range(n_ep)]
        tasks: dict[str, int] = {}
        for r in records:
            tasks.setdefault(r["instruction"], len(tasks))
        total_frames = sum(r["length"] for r in records)
        info = {
            "codebase_version": "v2.1",
            "robot_type": "Franka",
            "total_episodes": n_ep,
            "total_frames": total_frames,
            "total_tasks": len(tasks),
            "total_videos": n_ep * len(protocol.VIEWS),
            "total_chunks": max(1, -(-n_ep // CHUNKS_SIZE)),
            "chunks_size": CHUNKS_SIZE,
            "fps": protocol.SOURCE_FPS,
            "splits": {self.split: f"0:{n_ep}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": features(),
            "pwbench_masks": {"path": MASK_PATH, "stride": MASK_STRIDE, "labels": dict(LABELS),
                              "object_labels_from": LABELS["object"]},
        }
        if extra_info:
            info["pwbench_sim"] = extra_info
        lines_ep = [json.dumps({"episode_index": r["episode_index"], "tasks": [r["instruction"]],
                                "length": r["length"]}) for r in records]
        lines_task = [json.dumps({"task_index": j, "task": t}) for t, j in tasks.items()]
        lines_epstats = [json.dumps({"episode_index": r["episode_index"], "stats": r["stats"]})
                         for r in records]
        meta = {"episodes.jsonl": "\n".join(lines_ep) + "\n", "tasks.jsonl": "\n".join(lines_task) + "\n",
                "episodes_stats.jsonl": "\n".join(lines_epstats) + "\n",
                "stats.json": json.dumps(self._stats(records), indent=1),
                "info.json": json.dumps(info, indent=2)}  # info.json last: readers trust what it counts
        for name, text in meta.items():
            atomic_write_bytes(self.root / "meta" / name, text.encode())
        return n_ep

    def _stats(self, records: list[dict]) -> dict:
        if not records:
            return {}
        cols: dict[str, list[np.ndarray]] = {name: [] for name in VECTOR_FEATURES}
        for r in records:
            table = pq.read_table(self.root / _fmt(DATA_PATH, r["episode_index"]),
                                  columns=list(VECTOR_FEATURES))
            for name in VECTOR_FEATURES:
                cols[name].append(np.asarray(table[name].to_pylist(), dtype=np.float64))
        stats = {name: _numeric_stats(np.concatenate(v)) for name, v in cols.items()}
        for v in protocol.VIEWS:
            key = protocol.VIDEO_KEY_PREFIX + v
            per = [r["stats"][key] for r in records]
            w = np.array([p["count"][0] for p in per], float)
            mean = np.array([np.ravel(p["mean"]) for p in per])
            std = np.array([np.ravel(p["std"]) for p in per])
            gm = (w[:, None] * mean).sum(0) / w.sum()
            gv = (w[:, None] * (std**2 + (mean - gm) ** 2)).sum(0) / w.sum()
            def c(x):
                return [[[float(t)]] for t in x]
            stats[key] = {"min": c(np.min([np.ravel(p["min"]) for p in per], 0)),
                          "max": c(np.max([np.ravel(p["max"]) for p in per], 0)),
                          "mean": c(gm), "std": c(np.sqrt(gv)), "count": [int(w.sum())]}
        return stats
