"""IRASim behind pwbench's ``WorldModel`` interface: one condition frame, 15 frames per step.

As the original's long-video script: the first condition is the context's start frame s0; each
step samples 15 frames from the condition and the chunk's frame actions, and the last generated
latent (not decoded and re-encoded) becomes the next condition. A short last chunk (the 11 s
horizon is 56 = 3 x 15 + 11 frames) is padded by repeating its *first* action, as the original
pads, and only its first frames are kept. The actions of a chunk are the poses its frames must
reach (droid-sim's and DROID's actions are absolute cartesian poses), turned into IRASim frame
actions together with the condition's pose (:mod:`baselines.irasim.actions`).

``reset_batch``/``step_batch`` roll clips out in lockstep through one batched forward per sampler
step; each clip's noise comes from its own generator seeded from ``context.seed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from baselines.irasim.actions import FrameActions
from baselines.irasim.weights import load_small
from baselines.irasim.world import IRASimWorld
from pwbench.diffusion.codec import signed_pixels, view_frames
from pwbench.models.base import Frames, LockstepModel, ModelSpec, RolloutContext, WorldModel, check_stacked_views
from pwbench.models.options import apply_threads
from pwbench.protocol import TaskSpec


@dataclass
class _Clip:
    latent: torch.Tensor  # (C, h, w) the condition
    pose: torch.Tensor  # (7,) its pose
    generator: torch.Generator


class IRASimModel(LockstepModel):
    def __init__(self, model: IRASimWorld, task: TaskSpec, actions: FrameActions, num_steps: int,
                 variant: str, extra: dict | None = None) -> None:
        cfg = model.config
        check_stacked_views(cfg.name, (cfg.view_height, cfg.view_width), task)
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.model = model
        self.actions = actions
        self.num_steps = num_steps
        self.views = tuple(task.views)
        self.chunk = cfg.chunk
        self.spec = ModelSpec(
            name="irasim", variant=variant, resolution=tuple(task.resolution), chunk_size=cfg.chunk,
            views=self.views, context_frames=1,
            num_parameters=sum(p.numel() for p in model.net.parameters() if p.requires_grad),
            description="IRASim (arXiv 2406.14540): Latte-style spatial/temporal diffusion transformer with "
                        "Frame-Ada action conditioning, 1 condition frame + 15, 3 views stacked; shared small "
                        "residual EDM recipe, Euler sampler",
            extra={"num_steps": num_steps, **(extra or {})})
        self.clips: list[_Clip] = []
        self.chunk_seconds: list[float] = []

    def reset_batch(self, contexts: list[RolloutContext]) -> None:
        dev = self.model.device
        self.clips = []
        for c in contexts:
            pix = signed_pixels(np.stack([c.frames[v][-1] for v in self.views])[None], dev)  # (1, V, 3, H, W)
            pose = torch.as_tensor(np.asarray(c.state[-1], dtype=np.float32), device=dev)
            self.clips.append(_Clip(self.model.encode_views(pix)[0], pose,
                                    torch.Generator(device=dev).manual_seed(int(c.seed))))
        self.chunk_seconds = []

    @torch.no_grad()
    def step_batch(self, actions: list[np.ndarray], joints: list[np.ndarray]) -> list[Frames]:
        """One chunk for every clip of the last ``reset_batch``. A clip's noise does not depend on
        its neighbours; results are bit-identical only to runs of the same batch size."""
        n = self.chunk_length(actions, len(self.clips))
        start = time.perf_counter()
        poses = self.chunk_poses(actions, n)
        current = torch.stack([c.latent for c in self.clips])
        latents = self.model.predict_chunk(current, self.actions(poses), [c.generator for c in self.clips],
                                           self.num_steps)
        outputs = self.push_chunk(latents, poses, n)
        self.chunk_seconds.append(time.perf_counter() - start)
        return outputs

    def chunk_poses(self, actions: list[np.ndarray], n: int) -> torch.Tensor:
        """(B, 16, 7): each clip's condition pose, then the ``n`` poses its chunk must reach; a short
        chunk is padded with its first action, as the original pads."""
        dev = self.model.device
        poses = []
        for clip, acts in zip(self.clips, actions, strict=True):
            acts = np.asarray(acts, dtype=np.float32)
            acts = np.concatenate([acts, np.repeat(acts[:1], self.chunk - n, axis=0)])
            poses.append(torch.cat([clip.pose[None], torch.from_numpy(acts).to(dev)]))
        return torch.stack(poses)

    def push_chunk(self, latents: torch.Tensor, poses: torch.Tensor, n: int) -> list[Frames]:
        """Advance every clip to its chunk's frame ``n`` (the next condition: the last kept latent,
        not decoded and re-encoded) and return the decoded first ``n`` frames per clip."""
        outputs = []
        for clip, lat, pose in zip(self.clips, latents, poses, strict=True):
            clip.latent, clip.pose = lat[n - 1], pose[n]
            outputs.append(view_frames(self.model.decode_views(lat[:n]), self.views))
        return outputs


def build(task: TaskSpec, device: str = "cpu", *, num_steps: int | None = None, weights: str | None = None,
          threads: int | None = None) -> WorldModel:
    """pwbench factory: ``droid-sim`` -> the shipped small weights (or ``weights=DIR``).

    Options: ``num_steps`` (sampler steps; default the weights' validated choice), ``weights``,
    ``threads`` (torch CPU threads). The released IRASim checkpoints are RT-1 / Bridge /
    Language-Table models (``baselines.irasim.checkpoint.load_official``): no DROID weights exist,
    so ``--task droid`` needs weights trained with ``pwbench train irasim``."""
    if task.name != "droid-sim":
        raise ValueError(f"irasim has trained weights for droid-sim only; no public DROID IRASim exists "
                         f"(task {task.name!r}); see docs/baselines/irasim.md")
    apply_threads(threads)
    model, meta = load_small(weights, device=device)
    steps = int(meta.get("num_steps_default", model.config.recipe.num_steps)) if num_steps is None else num_steps
    extra = {k: meta[k] for k in ("train_steps", "seed") if k in meta}
    extra["train_episodes"] = len(meta.get("train_episodes", []))
    extra["config"] = model.config.name  # with or without a pose map
    return IRASimModel(model, task, FrameActions.from_facts(meta), steps, variant="small-droid-sim", extra=extra)
