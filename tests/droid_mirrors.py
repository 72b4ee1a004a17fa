"""Local mirrors of real DROID's three layouts, built from shipped droid-sim episodes.

The same source frames are written losslessly (H.264 RGB, qp 0) in each layout, so every layout
must decode to identical protocol frames and give identical metrics:

* ``lerobot-v2.1``: a parquet and three 15 Hz mp4 per episode (``cadene/droid_1.0.1``);
* ``lerobot-v3.0``: all episodes in one parquet and one mp4 per view (``lerobot/droid_1.0.1``);
* ``ctrl-world``: ``annotation/val/<id>.json`` + ``videos/val/<id>/{0,1,2}.mp4`` at 5 Hz,
  192 × 320 — here resized by the protocol's rule, so that its frames equal the others'.

Episodes are re-indexed as DROID indices (99, 199: validation; 100: not), and cut to
``FRAMES`` source frames. :func:`hub_cache` lays a mirror out as a pre-populated Hugging Face
cache (``HF_HOME``) so the Hub code runs unchanged under ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd

from pwbench import protocol
from pwbench.data.resize import resize_frames
from pwbench.data.tasks import SIM_EVAL_DIR
from pwbench.data.video import decode_frames

FRAMES = 46  # 16 frames at 5 Hz: s0 = 8 plus 5 (1 s) plus two; tests run at --horizon 1s
INDICES = {99: 0, 100: 1, 199: 2}  # DROID index -> shipped droid-sim eval episode
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _source(sim_episode: int) -> tuple[pd.DataFrame, dict[str, np.ndarray], str]:
    table = pd.read_parquet(SIM_EVAL_DIR / f"data/chunk-000/episode_{sim_episode:06d}.parquet").iloc[:FRAMES]
    frames = {v: decode_frames(SIM_EVAL_DIR / f"videos/chunk-000/{protocol.VIDEO_KEY_PREFIX}{v}/"
                               f"episode_{sim_episode:06d}.mp4", list(range(FRAMES))) for v in protocol.VIEWS}
    return table.reset_index(drop=True), frames, str(table["language_instruction"].iloc[0])


def write_lossless(path: Path, frames: np.ndarray, fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt, stream.options = "rgb24", {"qp": "0", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _info(version: str, data_path: str, video_path: str, episodes: int) -> dict:
    return {"codebase_version": version, "robot_type": "Franka", "fps": protocol.SOURCE_FPS, "chunks_size": 1000,
            "total_episodes": episodes, "data_path": data_path, "video_path": video_path,
            "features": {protocol.VIDEO_KEY_PREFIX + v: {"dtype": "video", "shape": [180, 320, 3]}
                         for v in protocol.VIEWS}}


def make_v21(root: Path) -> Path:
    rows = []
    for index, sim in INDICES.items():
        table, frames, text = _source(sim)
        table["episode_index"] = index
        path = root / f"data/chunk-000/episode_{index:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(path)
        for view in protocol.VIEWS:
            write_lossless(root / f"videos/chunk-000/{protocol.VIDEO_KEY_PREFIX}{view}/episode_{index:06d}.mp4",
                           frames[view], protocol.SOURCE_FPS)
        rows.append({"episode_index": index, "tasks": [text], "length": len(table)})
    info = _info("v2.1", "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
                 "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4", len(rows))
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "meta/episodes_stats.jsonl").write_text("{}\n")  # DROID's is ~1 GB: never fetched
    return root


def make_v30(root: Path) -> Path:
    tables, videos, meta, offset = [], {v: [] for v in protocol.VIEWS}, [], 0
    for index, sim in INDICES.items():
        table, frames, text = _source(sim)
        n = len(table)
        table["episode_index"], table["index"] = index, np.arange(offset, offset + n)
        tables.append(table)
        row = {"episode_index": index, "tasks": [text], "length": n, "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": offset, "dataset_to_index": offset + n, "stats/unused": 0.0}
        for view in protocol.VIEWS:
            key = protocol.VIDEO_KEY_PREFIX + view
            start = sum(len(f) for f in videos[view]) / protocol.SOURCE_FPS
            row |= {f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                    f"videos/{key}/from_timestamp": start,
                    f"videos/{key}/to_timestamp": start + n / protocol.SOURCE_FPS}
            videos[view].append(frames[view])
        meta.append(row)
        offset += n
    (root / "data/chunk-000").mkdir(parents=True, exist_ok=True)
    pd.concat(tables, ignore_index=True).to_parquet(root / "data/chunk-000/file-000.parquet")
    for view, parts in videos.items():
        write_lossless(root / f"videos/{protocol.VIDEO_KEY_PREFIX}{view}/chunk-000/file-000.mp4",
                       np.concatenate(parts), protocol.SOURCE_FPS)
    (root / "meta/episodes/chunk-000").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(meta).to_parquet(root / "meta/episodes/chunk-000/file-000.parquet")
    info = _info("v3.0", "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
                 "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4", len(meta))
    (root / "meta/info.json").write_text(json.dumps(info))
    (root / "meta/stats.json").write_text("{}")
    return root


def make_ctrl_world(root: Path, size: tuple[int, int] = (192, 320)) -> Path:
    for index, sim in INDICES.items():
        table, frames, text = _source(sim)
        rows = np.arange(0, len(table), protocol.SUBSAMPLE)
        cart = np.stack(table["observation.state.cartesian_position"].to_numpy())
        grip = np.stack(table["observation.state.gripper_position"].to_numpy()).reshape(-1, 1)
        joints = np.stack(table["observation.state.joint_position"].to_numpy())
        record = {"texts": [text], "episode_id": index, "success": 1, "video_length": len(rows),
                  "state_length": len(rows), "raw_length": len(table),
                  "videos": [{"video_path": f"videos/val/{index}/{k}.mp4"} for k in range(3)],
                  "states": np.concatenate([cart, grip], 1)[rows].tolist(),
                  "observation.state.cartesian_position": cart.tolist(),
                  "observation.state.joint_position": joints.tolist(),
                  "observation.state.gripper_position": grip[:, 0].tolist()}
        (root / "annotation/val").mkdir(parents=True, exist_ok=True)
        (root / f"annotation/val/{index}.json").write_text(json.dumps(record))
        for k, view in enumerate(protocol.VIEWS):
            write_lossless(root / f"videos/val/{index}/{k}.mp4", resize_frames(frames[view][rows], size), 5)
    return root


def hub_cache(mirror: Path, hf_home: Path, repo: str, commit: str = COMMIT) -> Path:
    """Lay ``mirror`` out as the Hugging Face cache's snapshot of ``repo`` at ``commit``."""
    repo_dir = hf_home / "hub" / f"datasets--{repo.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    shutil.copytree(mirror, repo_dir / "snapshots" / commit, dirs_exist_ok=True)
    return repo_dir / "snapshots" / commit
