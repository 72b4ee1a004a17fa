"""Ctrl-World as a :class:`pwbench.rl.protocol.Branchable`: what PersistWorld post-trains.

Rollout states are the harness adapter's own clip states (memory buffer, noise generator,
instruction), so a post-training rollout is exactly an evaluation rollout: same memory pattern,
same sampler, same number of steps. Trainable: LoRA adapters on every attention projection of
the UNet (spatial and temporal self-attention, and the cross-attention where the action tokens
enter) plus the action encoder (and, in the small recipe, the pose map — its per-pixel half);
the UNet's base weights, the codec and the text encoder stay frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.ctrl_world.adapter import CtrlWorldModel, _ClipState, build
from baselines.ctrl_world.history import HistoryBuffer
from baselines.ctrl_world.model import ChunkCondition
from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.codec import signed_pixels
from pwbench.diffusion.edm import loss_weight
from pwbench.diffusion.residual import from_residual, to_residual
from pwbench.protocol import TaskSpec
from pwbench.rl.lora import add_lora, lora_parameters
from pwbench.rl.protocol import Chunk, encode_recorded

ACTION_MODULES = ("action_encoder.", "pose_map.")


@dataclass
class _State:
    clips: list[_ClipState]


@dataclass
class _Condition:
    """What one chunk was sampled from: the denoiser's condition and the rows' clean current latents
    (the frame a residual target is taken from)."""

    denoiser: ChunkCondition
    current: torch.Tensor  # (B, C, h, w) scaled latents


class CtrlWorldBranchable:
    def __init__(self, adapter: CtrlWorldModel, lora_rank: int = 8, lora_alpha: float = 16.0) -> None:
        self.adapter = adapter
        self.model = adapter.model
        self.module: nn.Module = adapter.model
        self.views = adapter.views
        self.chunk_frames = 4
        self.lora_targets = add_lora(self.model.unet, lora_rank, lora_alpha)
        self.model.requires_grad_(False)
        for _, p in self.trainable():
            p.requires_grad_(True)

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        lora = [(f"unet.{n}", p) for n, p in lora_parameters(self.model.unet)]
        actions = [(n, p) for n, p in self.model.named_parameters() if n.startswith(ACTION_MODULES)]
        return lora + actions

    # -- rollout states -------------------------------------------------------------------------
    @torch.no_grad()
    def start(self, episodes: Sequence[TrainEpisode], frames: Sequence[int], seeds: Sequence[int]) -> _State:
        ad = self.adapter
        clips = []
        for ep, t, seed in zip(episodes, frames, seeds, strict=True):
            gen = torch.Generator(device=ad.device).manual_seed(int(seed))
            pix = signed_pixels(ep.frames[t:t + 1], ad.device)
            latent = self.model.encode_views(pix, generator=gen)[0].to(ad.dtype)
            buffer = HistoryBuffer(self.model.config.history_idx)
            buffer.reset(latent, torch.as_tensor(ep.pose[t], dtype=torch.float32, device=ad.device),
                         self.model.config.buffer_prefill)
            clips.append(_ClipState(buffer, gen, self.model.text_embeds([ep.instruction]).to(ad.dtype)))
        return _State(clips)

    def branch(self, state: _State, k: int, seeds: Sequence[int]) -> _State:
        if len(seeds) != k * len(state.clips):
            raise ValueError(f"{len(seeds)} seeds for {len(state.clips)} rows x {k} branches")
        clips = []
        for i, clip in enumerate(state.clips):
            for j in range(k):
                buffer = HistoryBuffer(clip.buffer.pattern, list(clip.buffer.latents), list(clip.buffer.poses))
                gen = torch.Generator(device=self.adapter.device).manual_seed(int(seeds[i * k + j]))
                clips.append(_ClipState(buffer, gen, clip.text))
        return _State(clips)

    @torch.no_grad()
    def advance(self, state: _State, actions: Sequence[np.ndarray]) -> Chunk:
        ad = self.adapter
        ad.clips = state.clips  # the adapter's memory handling, unchanged
        inputs = ad.chunk_inputs(list(actions))
        gens = [c.generator for c in state.clips]
        condition = self.model.chunk_condition(inputs.current, inputs.history, inputs.pose_features, inputs.text,
                                               gens, ad.cond_noise)
        traj = self.model.chunk_trajectory(inputs.current, inputs.history, inputs.pose_features, inputs.text, gens,
                                           ad.num_steps, condition=condition)
        target = traj.sample
        latents = from_residual(target, inputs.current.float()) if self.model.config.residual else target
        frames = ad.push_chunk(latents.to(ad.dtype), inputs)
        return Chunk(condition=_Condition(condition, inputs.current.float()), target=target, frames=frames)

    @torch.no_grad()
    def recorded(self, chunk: Chunk, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """Slot 0 is the row's own current frame (a zero residual), slots 1.. the recorded frames'
        code, encoded as the rollout's start frame is (patch-PCA: deterministic; SVD's VAE: a
        posterior sample)."""
        c: _Condition = chunk.condition
        code = encode_recorded(self.model.encode_views, frames, len(c.current), self.chunk_frames, self.adapter.device)
        latents = torch.cat([c.current[:, None], code], dim=1)
        return to_residual(latents, c.current) if self.model.config.residual else latents

    # -- the loss's forward -----------------------------------------------------------------------
    def x0(self, chunk: Chunk, rows: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c: ChunkCondition = chunk.condition.denoiser.rows(rows)
        return self.model.denoiser(c, guidance=False)(noisy, sigma)

    def sample_sigma(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.model.config.train_sigma.sample((n,), generator, self.adapter.device, torch.float32)

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return loss_weight(sigma, self.model.config.sigma_data)


def branchable(task: TaskSpec, device: str = "cpu", *, weights: str | None = None, lora_rank: int = 8,
               lora_alpha: float = 16.0, num_steps: int | None = None) -> tuple[CtrlWorldBranchable, dict]:
    """The registered factory (``pwbench.branchables``): Ctrl-World for ``task`` (its shipped or
    given base ``weights``) with fresh LoRA adapters, and the base model's facts."""
    adapter = build(task, device=device, num_steps=num_steps, weights=weights)
    world = CtrlWorldBranchable(adapter, lora_rank=lora_rank, lora_alpha=lora_alpha)
    base = {"model": "ctrl-world", "variant": adapter.spec.variant, "weights": weights or "shipped",
            **adapter.spec.extra}
    return world, base
