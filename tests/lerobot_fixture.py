"""Build small datasets in LeRobot's v2.1 layout, the way DROID and droid-sim store them.

Frames show a coloured square that moves with the episode's (synthetic) end-effector position
on a textured background, so copy-last has something to lose and masks have something to mark.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd

from pwbench import protocol

HEIGHT, WIDTH = 180, 320


def square_position(episode: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    phase = 0.7 * episode
    y = (HEIGHT / 2 + 50 * np.sin(2 * np.pi * t / 90 + phase)).astype(int)
    x = (WIDTH / 2 + 110 * np.cos(2 * np.pi * t / 120 + phase)).astype(int)
    return y, x


def render(episode: int, view_no: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames (n, H, W, 3) and label maps (n, H, W): 0 background, 2 robot, 3 object."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = np.stack([(xx * 0.6 + 40 * view_no) % 256, (yy * 1.1) % 256,
                           np.full_like(xx, 90 + 30 * view_no)], axis=-1).astype(np.uint8)
    frames = np.repeat(background[None], n, axis=0)
    labels = np.zeros((n, HEIGHT, WIDTH), np.uint8)
    ys, xs = square_position(episode, np.arange(n) + 10 * view_no)
    for t in range(n):
        y0, x0 = max(ys[t] - 14, 0), max(xs[t] - 14, 0)
        frames[t, y0:ys[t] + 14, x0:xs[t] + 14] = (230, 60 + 20 * view_no, 40)
        labels[t, y0:ys[t] + 14, x0:xs[t] + 14] = 2
        frames[t, 20:44, 30 + t % 40:54 + t % 40] = (40, 200, 60)
        labels[t, 20:44, 30 + t % 40:54 + t % 40] = 3
    return frames, labels


def write_video(path: Path, frames: np.ndarray, codec: str = "libx264") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=protocol.SOURCE_FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_dataset(root: Path, episodes: int = 3, frames: int = 200, masks: bool = True,
                 first_index: int = 0, codec: str = "libx264") -> Path:
    """Write a dataset with episodes first_index.. and return its root."""
    (root / "meta").mkdir(parents=True, exist_ok=True)
    episode_rows = []
    for k in range(episodes):
        index = first_index + k
        n = frames if isinstance(frames, int) else frames[k]
        t = np.arange(n)
        ys, xs = square_position(index, t)
        cart = np.stack([xs / 1000, ys / 1000, np.full(n, 0.3), np.sin(t / 30), np.zeros(n), np.zeros(n)], 1)
        grip = ((t // 40) % 2).astype(np.float32)[:, None]
        joints = np.stack([np.sin(t / 20 + j) for j in range(7)], 1)
        instruction = f"move the red block {index}"
        table = pd.DataFrame({
            "observation.state.cartesian_position": list(cart.astype(np.float32)),
            "observation.state.gripper_position": list(grip),
            "observation.state.joint_position": list(joints.astype(np.float32)),
            "language_instruction": [instruction] * n,
            "timestamp": (t / protocol.SOURCE_FPS).astype(np.float32),
            "frame_index": t, "episode_index": np.full(n, index), "index": t, "task_index": np.zeros(n, int),
        })
        chunk = index // 1000
        data_path = root / f"data/chunk-{chunk:03d}/episode_{index:06d}.parquet"
        data_path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(data_path)
        label_maps = {}
        for view_no, view in enumerate(protocol.VIEWS):
            rgb, labels = render(index, view_no, n)
            write_video(root / f"videos/chunk-{chunk:03d}/observation.images.{view}/episode_{index:06d}.mp4",
                        rgb, codec)
            label_maps[view] = labels[::protocol.SUBSAMPLE]
        if masks:
            mask_path = root / f"masks/chunk-{chunk:03d}/episode_{index:06d}.npz"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(mask_path, **label_maps)
        episode_rows.append({"episode_index": index, "tasks": [instruction], "length": n})
    info = {
        "codebase_version": "v2.1", "robot_type": "Franka", "fps": protocol.SOURCE_FPS, "chunks_size": 1000,
        "total_episodes": episodes,
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
    }
    if masks:
        info["pwbench_masks"] = {"path": "masks/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.npz",
                                 "stride": protocol.SUBSAMPLE,
                                 "labels": {"background": 0, "table": 1, "robot": 2, "object": 3},
                                 "object_labels_from": 3}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=1))
    (root / "meta" / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in episode_rows))
    return root
