"""Clip previews for the site: per view, ground truth | prediction | difference | mask overlay,
side by side as one WebM video (VP8: plays in every current browser, no patent-encumbered codec),
plus the clip's action trajectory as JSON. Made by ``pwbench submit`` from a run's saved
predictions (``pwbench run --save-predictions``), so the site never needs the dataset.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from pwbench import protocol
from pwbench.data.evalset import Clip
from pwbench.io import atomic_write_bytes

SCALE = 2  # panels at half the task resolution: ~340 KB per 11 s clip (measured)
DIFF_GAIN = 3  # |prediction - truth| is faint; x3 makes drift visible without saturating at once
MASK_TINT = np.array([255, 64, 160], dtype=np.float32)
STATE_NAMES = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")
PANELS = ("ground truth", "prediction", f"|difference| x{DIFF_GAIN}", "objects (mask)")


def _panels(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(T, H, 4W, 3) uint8 for one view."""
    diff = np.clip(np.abs(pred.astype(np.int16) - gt.astype(np.int16)) * DIFF_GAIN, 0, 255).astype(np.uint8)
    if mask is None:
        overlay = (gt * 0.35).astype(np.uint8)  # no masks in this dataset: a dimmed frame says so
    else:
        m = mask[..., None].astype(np.float32)
        overlay = (gt * (1 - 0.55 * m) + MASK_TINT * 0.55 * m).astype(np.uint8)
    return np.concatenate([gt, pred, diff, overlay], axis=2)


def preview_frames(clip: Clip, frames: dict[str, np.ndarray], horizon: int) -> np.ndarray:
    """(T, rows, cols, 3): one row of panels per view, downscaled by SCALE."""
    gt, masks = clip.future(horizon)
    rows = [_panels(gt[v], frames[v][:horizon], None if masks is None else masks.get(v)) for v in frames]
    stacked = np.concatenate(rows, axis=1)
    return stacked[:, ::SCALE, ::SCALE]


def write_webm(frames: np.ndarray, path: Path, fps: int = protocol.FPS) -> None:
    """VP8 WebM of (T, h, w, 3) uint8 frames. ``fflags=+bitexact`` keeps the muxer from writing a
    random segment UID and the library version, so the same frames give the same bytes: a
    re-packaged entry does not change its previews (nor their hashes, nor the repository)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height = frames.shape[2] - frames.shape[2] % 2, frames.shape[1] - frames.shape[1] % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10", "b": "1M", "deadline": "good", "cpu-used": "4"}
        for frame in frames:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:stream.height, :stream.width]),
                                               format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    atomic_write_bytes(path, buffer.getvalue())


def write_clip_media(clip: Clip, frames: dict[str, np.ndarray], horizon: int, folder: Path) -> None:
    """``folder/<clip_id>.webm`` and ``folder/<clip_id>.json`` (views, panels, action trajectory)."""
    write_webm(preview_frames(clip, frames, horizon), folder / f"{clip.clip_id}.webm")
    s0 = clip.start_frame
    states = clip.episode.state[s0:s0 + horizon + 1]
    info = {"clip_id": clip.clip_id, "views": list(frames), "panels": list(PANELS), "fps": protocol.FPS,
            "instruction": clip.episode.instruction,
            "actions": {name: [round(float(v), 4) for v in states[:, i]] for i, name in enumerate(STATE_NAMES)}}
    atomic_write_bytes(folder / f"{clip.clip_id}.json", (json.dumps(info, indent=1) + "\n").encode())
