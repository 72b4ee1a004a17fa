"""Video decoding with PyAV: the source frames a clip needs, and nothing silently dropped."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from pwbench.errors import DatasetError


def decode_frames(path: Path, indices: list[int]) -> np.ndarray:
    """Decode the given source-frame indices (ascending) of a video as uint8 (N, H, W, 3).

    Decoding stops after the last wanted frame. A missing file, an unreadable container or a
    video shorter than the last wanted index is a :class:`DatasetError` naming the file.
    """
    if not indices:
        raise ValueError("no frame indices to decode")
    if list(indices) != sorted(set(indices)):
        raise ValueError("frame indices must be ascending and unique")
    if not path.is_file():
        raise DatasetError(f"missing video file {path}")
    wanted = set(indices)
    last = indices[-1]
    out: list[np.ndarray] = []
    decoded = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DatasetError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                if decoded in wanted:
                    out.append(frame.to_ndarray(format="rgb24"))
                decoded += 1
                if decoded > last:
                    break
    except DatasetError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot decode video ({err})") from err
    if len(out) != len(indices):
        raise DatasetError(f"{path}: video is truncated or too short: needed source frame {last}, "
                           f"decoded only {decoded} frames")
    return np.stack(out)
