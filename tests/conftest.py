"""Test-wide settings: no network, a private cache, and the small datasets the tests build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Eval-set caches go to a per-session temp folder; LPIPS weights keep the shared cache."""
    cache = tmp_path_factory.getbasetemp() / "pwbench-cache"
    monkeypatch.setenv("PWBENCH_EVALSET_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 200-frame episodes (13.3 s at 15 Hz) in the v2.1 layout, with masks."""
    from lerobot_fixture import make_dataset

    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds", episodes=3, frames=200)
