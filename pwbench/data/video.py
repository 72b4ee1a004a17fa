"""Video decoding with PyAV: the source frames a clip needs, checked against the table.

A dataset's table says how many frames an episode has, at what rate and at which timestamps;
the video file may disagree (a 5 Hz file behind a 15 Hz table, a dropped frame, a file cut
short). Read naively, such a video gives frames from the wrong instants and scores run to
completion on wrong ground truth. :func:`decode_frames` therefore identifies every decoded frame
by its presentation time, not by its position, and refuses a file whose rate, frame count or
timestamps do not match (:class:`VideoSpec`; tolerances below). Every error is a
:class:`DatasetError` naming the episode and the file, so the clip fails and the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from pwbench.errors import DatasetError

# A video's frame rate may differ from the table's by 1 % (containers store rates as rationals
# such as 15000/1001 only when the source was not 15 Hz; any real mismatch is far larger).
FPS_TOLERANCE = 0.01
# A frame's presentation time may differ from the table's timestamp by a quarter of a frame
# period: container time bases round (1/90 s in MPEG-TS), but a shift of one frame is caught.
TIMESTAMP_TOLERANCE_FRAMES = 0.25


@dataclass(frozen=True)
class VideoSpec:
    """What the dataset's table says a video holds for one episode.

    ``start``: the episode's first frame time inside the file and ``packed``: whether the file
    holds other episodes too (LeRobot v3.0 concatenates many; then the file's own frame count
    says nothing about the episode). ``timestamps``: the table's per-frame times
    relative to the episode start (None: ``k / fps``). ``frames``: the episode's frame count."""

    fps: float
    frames: int
    start: float = 0.0
    packed: bool = False
    timestamps: np.ndarray | None = None
    what: str = "video"  # e.g. "episode 99 exterior_1_left", for messages


def decode_frames(path: Path, indices: list[int], spec: VideoSpec | None = None) -> np.ndarray:
    """Decode the given frame indices (ascending) of an episode's video as uint8 (N, H, W, 3).

    Without ``spec`` frames are taken by position (for files pwbench wrote itself); with it,
    by time, and the rate, frame count and timestamps are checked. Decoding stops after the
    last wanted frame. A missing file, an unreadable container, a mismatch or a video that ends
    before the last wanted index is a :class:`DatasetError` naming the file.
    """
    if not indices:
        raise ValueError("no frame indices to decode")
    if list(indices) != sorted(set(indices)):
        raise ValueError("frame indices must be ascending and unique")
    label = f"{spec.what}: {path}" if spec is not None else str(path)
    if not path.is_file():
        raise DatasetError(f"{label}: missing video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DatasetError(f"{label}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if spec is None:
                out, decoded = _by_position(container, stream, indices)
            else:
                _check_stream(stream, spec, label)
                out, decoded = _by_time(container, stream, indices, spec, label)
    except DatasetError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise DatasetError(f"{label}: cannot decode video ({err})") from err
    if len(out) != len(indices):
        raise DatasetError(f"{label}: video is truncated or too short: needed frame {indices[-1]}, "
                           f"decoded only {decoded} frames")
    return np.stack(out)


def _by_position(container, stream, indices: list[int]) -> tuple[list[np.ndarray], int]:
    wanted, last = set(indices), indices[-1]
    out, decoded = [], 0
    for frame in container.decode(stream):
        if decoded in wanted:
            out.append(frame.to_ndarray(format="rgb24"))
        decoded += 1
        if decoded > last:
            break
    return out, decoded


def _check_stream(stream, spec: VideoSpec, label: str) -> None:
    rate = stream.average_rate or stream.guessed_rate
    if rate is None or abs(float(rate) - spec.fps) > FPS_TOLERANCE * spec.fps:
        raise DatasetError(f"{label}: video is {float(rate or 0):g} fps, the table says {spec.fps:g} fps")
    # a file per episode must hold exactly the table's frames (when the container records a count)
    if not spec.packed and stream.frames and int(stream.frames) != spec.frames:
        raise DatasetError(f"{label}: video has {int(stream.frames)} frames, the table has {spec.frames}")


def _by_time(container, stream, indices: list[int], spec: VideoSpec, label: str) -> tuple[list[np.ndarray], int]:
    """Frames identified by presentation time: frame k is the one at ``start + timestamps[k]``."""
    period = 1.0 / spec.fps
    tolerance = TIMESTAMP_TOLERANCE_FRAMES * period
    times = spec.timestamps if spec.timestamps is not None else np.arange(spec.frames) * period
    if indices[-1] >= spec.frames:
        raise DatasetError(f"{label}: frame {indices[-1]} wanted, the table has {spec.frames}")
    if spec.start > 0:
        container.seek(max(int((spec.start - period) / stream.time_base), 0), stream=stream, backward=True)
    wanted, last = set(indices), indices[-1]
    out: list[np.ndarray] = []
    expected = 0  # the index the next frame must have: no gap, no duplicate
    for frame in container.decode(stream):
        if frame.time is None:
            raise DatasetError(f"{label}: a frame without a timestamp")
        offset = frame.time - spec.start
        if offset < -tolerance:
            continue  # before this episode (packed files), reached by the seek
        k = int(round(offset / period))
        if k != expected or abs(offset - float(times[k])) > tolerance:
            raise DatasetError(f"{label}: frame {expected} of the table (t = {float(times[expected]):.4f} s) "
                               f"does not match the video (next frame at t = {offset:.4f} s; "
                               f"tolerance {tolerance * 1000:.1f} ms)")
        if k in wanted:
            out.append(frame.to_ndarray(format="rgb24"))
        expected += 1
        if expected > last:
            break
    return out, expected
