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


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory):
    """Eval-set caches go to a per-session temp folder, for session- and module-scoped fixtures too
    (a function-scoped patch comes too late for them): a manifest left in ``~/.cache`` by an earlier
    session would name the same temp path with another revision and refuse the run. LPIPS weights
    keep the shared cache."""
    cache = tmp_path_factory.getbasetemp() / "pwbench-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PWBENCH_EVALSET_CACHE", str(cache))
        yield cache


@pytest.fixture
def private_cache(session_cache: Path) -> Path:
    """The session's eval-set cache folder, for tests that look inside it."""
    return session_cache


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 200-frame episodes (13.3 s at 15 Hz) in the v2.1 layout, with masks."""
    from lerobot_fixture import make_dataset

    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds", episodes=3, frames=200)
