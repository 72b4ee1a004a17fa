"""Reproducible H.264 encoding of droid-sim videos.

Identical frames must give identical mp4 bytes, so the eval split's sha256 can be recorded and
checked: colour conversion is done in exact integer arithmetic here, libx264 runs on one thread,
and while encoding glibc is told to fill fresh allocations with a fixed pattern (the encoder reads
some heap memory before writing it). Each video is encoded until two encodes agree.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pwbench import protocol

DEFAULT_CRF = 28


def rgb_to_yuv420p(img: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0 in exact integer arithmetic, as one (H*3/2, W) uint8 array.

    Done here rather than by swscale inside PyAV, and in integers rather than floats: both
    swscale and a float32 numpy version made the encoded bytes differ between runs on identical
    frames (float reductions are not bit-stable across memory layouts); integers are exact.
    Coefficients are the usual 8-bit fixed-point BT.601 ones (x256).
    """
    rgb = img.astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = -38 * r - 74 * g + 112 * b  # x256, chroma centred on 0
    v = 112 * r - 94 * g - 18 * b
    h, w = y.shape

    def sub(c: np.ndarray) -> np.ndarray:  # 2x2 block mean, rounded, back to 8-bit
        s4 = c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]
        return ((s4 + 512) >> 10) + 128
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = np.clip(y, 0, 255)
    out[h: h + h // 4] = np.clip(sub(u), 0, 255).reshape(h // 4, w)
    out[h + h // 4:] = np.clip(sub(v), 0, 255).reshape(h // 4, w)
    return out


_M_PERTURB = -6  # glibc mallopt parameter


def _set_malloc_perturb(value: int) -> None:
    """glibc's M_PERTURB: fill memory returned by malloc with a fixed byte pattern (0 = off)."""
    global _LIBC
    try:
        if _LIBC is None:
            import ctypes
            import ctypes.util

            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _LIBC.mallopt(_M_PERTURB, value)
    except (OSError, AttributeError):  # not glibc: nothing to do
        _LIBC = False


_LIBC = None


def _encode(frames: np.ndarray, crf: int) -> bytes:
    """Encode in memory. libx264/libavcodec read some malloc'ed memory before writing it, so
    the bytes depended on whatever the heap held (MALLOC_PERTURB_ changes the output; identical
    frames gave different mp4s in different processes). While encoding, glibc is told to fill
    fresh allocations with a fixed pattern, which makes the output reproducible."""
    if _LIBC is not False:
        _set_malloc_perturb(0xA5)
    try:
        return _encode_unperturbed(frames, crf)
    finally:
        if _LIBC:
            _set_malloc_perturb(0)


def _encode_unperturbed(frames: np.ndarray, crf: int) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=protocol.SOURCE_FPS)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, protocol.SOURCE_FPS)
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1",
                          "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0"}
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(img), format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def write_video(path: Path, frames: np.ndarray, crf: int = DEFAULT_CRF, attempts: int = 6) -> int:
    """H.264 (libx264, yuv420p, fixed CRF, one thread) mp4 at 15 fps; returns the encodes it took.

    The encoder reads some uninitialised heap memory (see ``_encode``); with that pinned down the
    output is reproducible. As a guard, each video is encoded until two encodes agree.
    """
    seen: list[bytes] = []
    data = b""
    encodes = 0
    while encodes < attempts:
        encodes += 1
        data = _encode(frames, crf)
        if data in seen:
            break
        seen.append(data)
    Path(path).write_bytes(data)
    return encodes
