"""What a diffusion world model implements to be post-trained by :mod:`pwbench.rl`.

The recipe owns time and data: it picks training episodes and frames, feeds the recorded actions
chunk by chunk and scores the decoded frames against the episode's own. The model owns its
latent space, memory and conditioning: a rollout *state* (whatever the model keeps between
chunks, batched over rows), and for each chunk it advances, a :class:`Chunk` holding what its
x0 prediction needs to be recomputed later for the loss.

Models register a factory in the entry-point group ``pwbench.branchables`` (:data:`BRANCHABLES`):
``(task, device, *, weights, lora_rank, lora_alpha, num_steps) -> (Branchable, base facts)``;
adapters record the name they were trained on, so ``persistworld`` rebuilds the same base.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.codec import signed_pixels
from pwbench.models.base import WorldModel
from pwbench.registry import Registry

BRANCHABLES = Registry("post-trainable model", "pwbench.branchables")


@dataclass
class Chunk:
    """One chunk of a batched rollout: ``condition`` (model-specific, batched over rows) and
    ``target`` (rows, ...) the clean diffusion-space latents the sampler returned — the data the
    NFT loss re-noises — and ``frames[row][view]`` the decoded uint8 (n, H, W, 3) frames."""

    condition: Any
    target: torch.Tensor
    frames: list[dict[str, np.ndarray]]


class Branchable(Protocol):
    module: nn.Module  # holds every weight, the adapters included; checkpointed
    adapter: WorldModel  # the harness model the rollouts run through (evaluation uses it as is)
    views: tuple[str, ...]
    chunk_frames: int  # new frames per chunk

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        """The post-trained tensors (LoRA adapters + action encoder); all else stays frozen."""

    def start(self, episodes: Sequence[TrainEpisode], frames: Sequence[int], seeds: Sequence[int]) -> Any:
        """A batched rollout state: row i starts at ground-truth frame ``frames[i]`` of ``episodes[i]``,
        its sampler noise from ``seeds[i]``."""

    def branch(self, state: Any, k: int, seeds: Sequence[int]) -> Any:
        """Each row repeated ``k`` times (rows i*k .. i*k+k-1), with new noise seeds per new row."""

    def advance(self, state: Any, actions: Sequence[np.ndarray]) -> Chunk:
        """Sample one chunk per row from the recorded ``actions[row]`` ((n, action_dim), the poses the
        chunk's frames must reach) under the weights in place; updates ``state``. No gradient."""

    def recorded(self, chunk: Chunk, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """The diffusion-space target ``chunk`` would have had if each row's new frames were
        ``frames[row]`` ((n, V, H, W, 3) uint8, the episode's recorded ones), taken from the row's
        own current frame (its residual, where the model diffuses residuals): the target of the
        ground-truth ablation, which fine-tunes toward the recording from the model's own context."""

    def x0(self, chunk: Chunk, rows: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The x0 prediction for ``noisy`` (len(rows), ...) = target[rows] + sigma * noise, under the
        weights in place, with gradient."""

    def sample_sigma(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n,) training noise levels (the model's own distribution)."""

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        """(n,) the EDM loss weight of each noise level."""


def encode_recorded(encode_views, frames: Sequence[np.ndarray], rows: int, chunk_frames: int,
                    device: torch.device | str) -> torch.Tensor:
    """What every :meth:`Branchable.recorded` starts with: ``frames`` (``rows`` arrays of
    (``chunk_frames``, V, H, W, 3) uint8) through the model's ``encode_views`` ((N, V, 3, H, W) in
    [-1, 1] -> (N, ...) codes), as float32 (rows, chunk_frames, ...). A wrong count is an error."""
    n = {len(f) for f in frames}
    if len(frames) != rows or n != {chunk_frames}:
        raise ValueError(f"recorded frames must be {rows} rows of {chunk_frames} frames, "
                         f"got {len(frames)} rows of {sorted(n)}")
    code = encode_views(signed_pixels(np.concatenate(list(frames)), device)).float()
    return code.reshape(rows, chunk_frames, *code.shape[1:])
