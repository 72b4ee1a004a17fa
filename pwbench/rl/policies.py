"""The three policies of DiffusionNFT over one set of trainable tensors.

Only the trainable parameters differ between the policies (LoRA adapters and the action encoder;
the base weights are frozen and shared), so the *old* (sampling) policy and the *reference* (the
model before post-training, for the optional KL term) are plain tensor copies of those
parameters, registered as buffers of a small module so that they are checkpointed with the model.
``use("old")`` copies them into the parameters for a forward pass and restores the trained values
afterwards; the copies never require gradients, so the old policy cannot receive any. After each
optimiser step ``soft_update`` moves old <- eta * old + (1 - eta) * trained.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

POLICIES = ("current", "old", "reference")


def _key(name: str) -> str:
    return name.replace(".", "__")


class PolicyCopies(nn.Module):
    def __init__(self, named: list[tuple[str, nn.Parameter]]) -> None:
        super().__init__()
        if not named:
            raise ValueError("no trainable parameters")
        self.named = named
        for prefix in ("old", "reference"):
            for name, p in named:
                self.register_buffer(f"{prefix}__{_key(name)}", p.detach().clone())

    def copy(self, policy: str) -> list[torch.Tensor]:
        return [getattr(self, f"{policy}__{_key(n)}") for n, _ in self.named]

    @contextmanager
    def use(self, policy: str) -> Iterator[None]:
        """Run the enclosed forward passes with ``policy``'s values of the trainable tensors."""
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if policy == "current":
            yield
            return
        saved = [p.detach().clone() for _, p in self.named]
        try:
            with torch.no_grad():
                for (_, p), value in zip(self.named, self.copy(policy), strict=True):
                    p.copy_(value)
            yield
        finally:
            with torch.no_grad():
                for (_, p), value in zip(self.named, saved, strict=True):
                    p.copy_(value)

    @torch.no_grad()
    def soft_update(self, eta: float) -> None:
        """old <- eta * old + (1 - eta) * trained (eta = 0: the old policy is the trained one)."""
        if not 0 <= eta <= 1:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        for (_, p), old in zip(self.named, self.copy("old"), strict=True):
            old.mul_(eta).add_(p.detach(), alpha=1 - eta)


def old_decay(step: int, rate: float = 0.001, cap: float = 0.5) -> float:
    """DiffusionNFT's default schedule for eta: min(rate * step, cap) — the old policy follows the
    trained one closely at first and lags more as training settles."""
    return min(rate * step, cap)
