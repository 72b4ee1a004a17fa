"""Fixtures for the metric tests: offline only, one LPIPS model per session, synthetic frames."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from metric_images import reference_lpips

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to reach the internet from a metric test (loopback stays allowed)."""
    original = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"metric tests must not touch the network (tried {address!r})")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread per metric test: the CI box's cores are shared, and oversubscribed
    intra-op threads made this suite 10× slower there. Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def backbone() -> dict[str, torch.Tensor]:
    """The real AlexNet backbone (skips LPIPS tests where no offline source exists)."""
    from pwbench.metrics import LpipsWeightsMissing, load_alexnet_backbone

    try:
        return load_alexnet_backbone()[0]
    except LpipsWeightsMissing as err:  # pragma: no cover - depends on the environment
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def scorer(backbone: dict[str, torch.Tensor]) -> Any:
    from pwbench.metrics import FrameScorer

    return FrameScorer(device="cpu")


@pytest.fixture(scope="session")
def ref_lpips(backbone: dict[str, torch.Tensor]) -> Any:
    return reference_lpips(backbone)


@pytest.fixture(scope="session")
def ref_lpips_spatial(backbone: dict[str, torch.Tensor]) -> Any:
    return reference_lpips(backbone, spatial=True)
