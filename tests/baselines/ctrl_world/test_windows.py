"""Training windows read exactly the frames the rollout memory holds at the same point."""

from __future__ import annotations

import numpy as np
import torch

from baselines.ctrl_world.config import SMALL
from baselines.ctrl_world.history import HistoryBuffer
from baselines.ctrl_world.windows import CHUNK_STRIDE, window_pattern


def _buffer_frames(start: int, chunks: int) -> list[int]:
    """Frame numbers the adapter's HistoryBuffer returns after ``chunks`` steps from ``start``."""
    buf = HistoryBuffer(SMALL.history_idx)
    buf.reset(torch.tensor(float(start)), torch.zeros(7), SMALL.buffer_prefill)
    for j in range(1, chunks + 1):
        buf.push(torch.tensor(float(start + CHUNK_STRIDE * j)), torch.zeros(7))
    latents, _ = buf.gather()
    return [int(v) for v in latents.tolist()] + [start + CHUNK_STRIDE * chunks]


def test_rollout_windows_match_the_rollout_buffer() -> None:
    pattern = window_pattern(SMALL)
    rng = np.random.default_rng(0)
    for _ in range(300):
        length = int(rng.integers(10, 120))
        ids = pattern(rng, length)
        history, chunk = ids[:SMALL.num_history], ids[SMALL.num_history:]
        now = chunk[0]
        assert chunk == [min(now + i, length - 1) for i in range(SMALL.num_frames)]
        start = min(history)  # the buffer's first entry is the rollout's start frame
        assert (now - start) % CHUNK_STRIDE == 0
        assert history + [now] == _buffer_frames(start, (now - start) // CHUNK_STRIDE)


def test_original_windows_keep_the_loader_shape() -> None:
    from baselines.ctrl_world.config import FULL

    ids = window_pattern(FULL)(np.random.default_rng(1), 50)
    assert len(ids) == FULL.num_history + FULL.num_frames and all(0 <= i < 50 for i in ids)
