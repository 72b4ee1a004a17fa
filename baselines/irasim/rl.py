"""IRASim as a :class:`pwbench.rl.protocol.Branchable`: the second model PersistWorld post-trains.

Rollout states are the harness adapter's own clip states (condition latent, its pose, noise
generator), so a post-training rollout is an evaluation rollout: one condition frame, 15 frames
per chunk, the last generated latent carried on undecoded. Trainable: LoRA adapters on every
attention projection of the transformer (``qkv`` and ``proj`` of the spatial and temporal blocks)
plus the action path (Frame-Ada's action embedding and, with a pose map, the map); the rest of
the transformer and the codec stay frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.irasim.adapter import IRASimModel, _Clip, build
from pwbench.data.train_split import TrainEpisode
from pwbench.diffusion.codec import signed_pixels
from pwbench.diffusion.edm import loss_weight
from pwbench.diffusion.residual import from_residual, to_residual
from pwbench.protocol import TaskSpec
from pwbench.rl.lora import add_lora, lora_parameters
from pwbench.rl.protocol import Chunk, encode_recorded

ATTENTION_PROJECTIONS = ("attn.qkv", "attn.proj")
ACTION_MODULES = ("embed_state.", "embed_arm_state.", "pose_map.")


@dataclass
class _State:
    clips: list[_Clip]


@dataclass
class _Condition:
    """What one chunk's denoiser saw: the condition latent and the frame actions, per row."""

    current: torch.Tensor  # (B, C, h, w)
    actions: torch.Tensor  # (B, 15, action_dim)


class IRASimBranchable:
    def __init__(self, adapter: IRASimModel, lora_rank: int = 8, lora_alpha: float = 16.0) -> None:
        self.adapter = adapter
        self.model = adapter.model
        self.module: nn.Module = adapter.model
        self.views = adapter.views
        self.chunk_frames = adapter.chunk
        self.lora_targets = add_lora(self.model.net, lora_rank, lora_alpha, ATTENTION_PROJECTIONS)
        self.model.requires_grad_(False)
        for _, p in self.trainable():
            p.requires_grad_(True)

    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        lora = [(f"net.{n}", p) for n, p in lora_parameters(self.model.net)]
        actions = [(f"net.{n}", p) for n, p in self.model.net.named_parameters() if n.startswith(ACTION_MODULES)]
        return lora + actions

    # -- rollout states -------------------------------------------------------------------------
    @torch.no_grad()
    def start(self, episodes: Sequence[TrainEpisode], frames: Sequence[int], seeds: Sequence[int]) -> _State:
        dev = self.model.device
        clips = []
        for ep, t, seed in zip(episodes, frames, seeds, strict=True):
            latent = self.model.encode_views(signed_pixels(ep.frames[t:t + 1], dev))[0]
            pose = torch.as_tensor(np.asarray(ep.pose[t], dtype=np.float32), device=dev)
            clips.append(_Clip(latent, pose, torch.Generator(device=dev).manual_seed(int(seed))))
        return _State(clips)

    def branch(self, state: _State, k: int, seeds: Sequence[int]) -> _State:
        if len(seeds) != k * len(state.clips):
            raise ValueError(f"{len(seeds)} seeds for {len(state.clips)} rows x {k} branches")
        dev = self.model.device
        return _State([_Clip(clip.latent, clip.pose, torch.Generator(device=dev).manual_seed(int(seeds[i * k + j])))
                       for i, clip in enumerate(state.clips) for j in range(k)])

    @torch.no_grad()
    def advance(self, state: _State, actions: Sequence[np.ndarray]) -> Chunk:
        ad = self.adapter
        ad.clips = state.clips  # the adapter's chunk handling, unchanged
        n = ad.chunk_length(list(actions), len(state.clips))
        poses = ad.chunk_poses(list(actions), n)
        current = torch.stack([c.latent for c in state.clips])
        features = ad.actions(poses)
        traj = self.model.chunk_trajectory(current, features, [c.generator for c in state.clips], ad.num_steps)
        frames = ad.push_chunk(from_residual(traj.sample, current.float()), poses, n)
        return Chunk(condition=_Condition(current, features), target=traj.sample, frames=[dict(f) for f in frames])

    @torch.no_grad()
    def recorded(self, chunk: Chunk, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """The recorded frames' code as residuals from the row's own condition latent (every slot
        of an IRASim chunk is a new frame)."""
        c: _Condition = chunk.condition
        code = encode_recorded(self.model.encode_views, frames, len(c.current), self.chunk_frames, self.model.device)
        return to_residual(code, c.current.float())

    # -- the loss's forward -----------------------------------------------------------------------
    def x0(self, chunk: Chunk, rows: torch.Tensor, noisy: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        c: _Condition = chunk.condition
        return self.model.denoiser(c.current[rows], c.actions[rows])(noisy, sigma)

    def sample_sigma(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.model.config.recipe.train_sigma.sample((n,), generator, self.model.device, torch.float32)

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return loss_weight(sigma, self.model.config.recipe.sigma_data)


def branchable(task: TaskSpec, device: str = "cpu", *, weights: str | None = None, lora_rank: int = 8,
               lora_alpha: float = 16.0, num_steps: int | None = None) -> tuple[IRASimBranchable, dict]:
    """The registered factory (``pwbench.branchables``): the small IRASim for ``task`` (its shipped
    or given base ``weights``) with fresh LoRA adapters, and the base model's facts."""
    adapter = build(task, device=device, num_steps=num_steps, weights=weights)
    world = IRASimBranchable(adapter, lora_rank=lora_rank, lora_alpha=lora_alpha)
    base = {"model": "irasim", "variant": adapter.spec.variant, "weights": weights or "shipped", **adapter.spec.extra}
    return world, base
