"""Which frames make a Ctrl-World training window (history slots, then the chunk).

``original``: the original DROID loader — a random current frame, chunk frames ``skip`` apart
(skip 1 or 2), history ``4 * skip`` apart, all history equal to the current frame with p = 0.15,
indices clipped to the episode.

``rollout`` (small recipe): exactly the frames the rollout memory holds. During a rollout from
start frame s0 the buffer holds ``prefill`` copies of s0, then one frame per 4-frame chunk, so
after j chunks the current frame is t = s0 + 4j and the pattern ``[0, 0, -8, -6, -4, -2]`` reads
frames ``[s0, s0, t-28, t-20, t-12, t-4]`` (s0 where the buffer is still prefill). Training
draws t and j (0..13: the 11 s rollout's 14 chunks) and reads those frames, so the model is
trained on the history it will be given; chunk frames are t..t+4 at the eval's 5 Hz.
"""

from __future__ import annotations

import numpy as np

from baselines.ctrl_world.config import CtrlWorldConfig
from baselines.ctrl_world.history import select
from pwbench.train.windows import WindowPattern

CHUNK_STRIDE = 4  # new frames per rollout step (the buffer gets one entry per step)
MAX_CHUNKS_BACK = 13  # an 11.2 s rollout has 14 chunks


def window_pattern(cfg: CtrlWorldConfig) -> WindowPattern:
    return _rollout(cfg) if cfg.windows == "rollout" else _original(cfg)


def _original(cfg: CtrlWorldConfig) -> WindowPattern:
    def pattern(rng: np.random.Generator, length: int) -> list[int]:
        now = int(rng.integers(0, length - 1))
        skip = int(rng.integers(1, 3))
        skip_his = 0 if rng.random() < 0.15 else 4 * skip
        ids = [now - i * skip_his for i in range(cfg.num_history, 0, -1)] + [now]
        ids += [now + i * skip for i in range(1, cfg.num_frames)]
        return np.clip(ids, 0, length - 1).tolist()

    return pattern


def _rollout(cfg: CtrlWorldConfig) -> WindowPattern:
    def pattern(rng: np.random.Generator, length: int) -> list[int]:
        now = int(rng.integers(0, length - 1))
        chunks = int(rng.integers(0, min(MAX_CHUNKS_BACK, now // CHUNK_STRIDE) + 1))
        start = now - CHUNK_STRIDE * chunks
        buffer_len = cfg.buffer_prefill + chunks
        history = [start if e < cfg.buffer_prefill else start + CHUNK_STRIDE * (e - cfg.buffer_prefill + 1)
                   for e in select(buffer_len, cfg.history_idx)]
        chunk = [min(now + i, length - 1) for i in range(cfg.num_frames)]
        return history + chunk

    return pattern
