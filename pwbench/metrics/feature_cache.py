"""A bounded, explicit in-memory cache of ground-truth LPIPS features.

Every model is scored against the same ground truth, and AlexNet on the GT is half the LPIPS
cost, so :class:`~pwbench.metrics.FrameScorer` can keep GT features under a caller-chosen key
(e.g. ``"clip_0042/exterior_1_left"``). Features are large (≈2.4 MB per 192×320 frame, ≈135 MB
for a 56-frame view), so the cache is an LRU bounded in bytes rather than in entries; callers that
score several models should loop clip-major to stay within it.

A key alone is not trusted: each entry also stores a fingerprint of the GT frames (shape and
BLAKE2b of the bytes, ~10 ms for a 56-frame view), and a mismatch recomputes instead of silently
reusing another clip's features.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB ≈ 7 views of 56 frames at 192×320


def fingerprint(frames: torch.Tensor) -> str:
    """Shape + BLAKE2b digest of uint8 frames: what a cached entry must match to be reused."""
    array = np.ascontiguousarray(frames.detach().cpu().numpy())
    digest = hashlib.blake2b(memoryview(array).cast("B"), digest_size=16).hexdigest()
    return f"{tuple(array.shape)}:{digest}"


@dataclass
class CacheInfo:
    """Counters for logs and tests."""

    hits: int
    misses: int
    stale: int  # key found but the frames differed: recomputed
    entries: int
    bytes: int
    max_bytes: int


class FeatureCache:
    """LRU of ``key -> (fingerprint, per-layer feature tensors)``, at most ``max_bytes`` in total."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[str, list[torch.Tensor], int]] = OrderedDict()
        self._bytes = 0
        self._hits = self._misses = self._stale = 0

    def get(self, key: str, print_: str) -> list[torch.Tensor] | None:
        """The cached features for ``key`` if its fingerprint is ``print_``, else None."""
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        if entry[0] != print_:
            self._stale += 1
            self._drop(key)
            return None
        self._hits += 1
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, print_: str, feats: list[torch.Tensor]) -> None:
        """Store features, evicting least-recently-used entries; too-large entries are skipped."""
        size = sum(f.numel() * f.element_size() for f in feats)
        if key in self._entries:
            self._drop(key)
        if size > self.max_bytes:
            return
        while self._bytes + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (print_, feats, size)
        self._bytes += size

    def _drop(self, key: str) -> None:
        _, _, size = self._entries.pop(key)
        self._bytes -= size

    def clear(self) -> None:
        """Forget every entry (the counters are kept)."""
        self._entries.clear()
        self._bytes = 0

    def info(self) -> CacheInfo:
        """Current counters and size."""
        return CacheInfo(self._hits, self._misses, self._stale, len(self._entries), self._bytes,
                         self.max_bytes)
