"""Safetensors shards: split under the size limit, read back exactly with their metadata, written
with the umask's mode (not a temp file's 0600), and a re-export with fewer shards leaves none of
the old ones behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import torch

from pwbench.io import FILE_MODE
from pwbench.models.shards import SmallWeightsError, read_shard_metadata, read_shards, save_shards, shard_files


def test_round_trip_modes_and_stale_shards(tmp_path: Path) -> None:
    state = {f"layer{i}.weight": torch.full((250,), float(i)) for i in range(4)}  # 1,000 bytes each
    paths = save_shards(state, tmp_path, {"config": "x", "steps": [1, 2]}, limit=2_000)
    assert [p.name for p in paths] == ["model-01-of-02.safetensors", "model-02-of-02.safetensors"]
    assert all(stat.S_IMODE(p.stat().st_mode) == FILE_MODE for p in paths)
    loaded, meta = read_shards(shard_files(tmp_path))
    assert meta == {"config": "x", "steps": [1, 2]} == read_shard_metadata(paths)
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())
    again = save_shards({"only": torch.zeros(3)}, tmp_path, {"config": "y"})
    assert shard_files(tmp_path) == again == [tmp_path / "model.safetensors"]
    assert not list(tmp_path.glob(".*"))  # no temp file left


def test_shards_of_two_exports_are_refused(tmp_path: Path) -> None:
    """An interrupted re-export can leave another export's shards beside the new ones: an error, not a mix."""
    state = {f"layer{i}.weight": torch.full((250,), float(i)) for i in range(4)}
    first = save_shards(state, tmp_path / "a", {"config": "x", "steps": 1}, limit=2_000)
    second = save_shards(state, tmp_path / "b", {"config": "x", "steps": 2}, limit=2_000)
    first[1].write_bytes(second[1].read_bytes())  # the same count: metadata tells them apart
    with pytest.raises(SmallWeightsError, match="other metadata"):
        read_shards(shard_files(tmp_path / "a"))
    with pytest.raises(SmallWeightsError, match="other metadata"):
        read_shard_metadata(shard_files(tmp_path / "a"))
    (tmp_path / "a" / "model-03-of-03.safetensors").write_bytes(b"")  # another count beside them
    with pytest.raises(SmallWeightsError, match="not one complete export"):
        shard_files(tmp_path / "a")
    first[0].unlink()
    (tmp_path / "a" / "model-03-of-03.safetensors").unlink()
    with pytest.raises(SmallWeightsError, match="not one complete export"):  # a missing shard
        shard_files(tmp_path / "a")
