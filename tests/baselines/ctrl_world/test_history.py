from __future__ import annotations

import pytest
import torch

from baselines.ctrl_world.config import HISTORY_IDX
from baselines.ctrl_world.history import HistoryBuffer, select


def test_pattern_over_a_growing_buffer() -> None:
    assert HISTORY_IDX == (0, 0, -8, -6, -4, -2)
    assert select(24, HISTORY_IDX) == [0, 0, 16, 18, 20, 22]
    buf = HistoryBuffer(HISTORY_IDX)
    buf.reset(torch.zeros(1), torch.zeros(7), prefill=24)
    for step in range(1, 6):
        buf.push(torch.full((1,), float(step)), torch.full((7,), float(step)))
    assert len(buf) == 29
    latents, poses = buf.gather()
    # entries 0, 0, 21, 23, 25, 27: prefill copies (0) until the pushes (1..5 at positions 24..28)
    assert latents[:, 0].tolist() == [0, 0, 0, 0, 2, 4]
    assert poses[:, 0].tolist() == [0, 0, 0, 0, 2, 4]
    assert buf.current[0].item() == 5


def test_index_outside_buffer_is_an_error() -> None:
    with pytest.raises(IndexError):
        select(4, HISTORY_IDX)
