"""WPE behind pwbench's ``WorldModel`` interface: blockwise autoregression over a sliding window.

As the original ``WorldModel``: ``reset`` encodes the start frame s0 as the only context frame;
each ``step`` appends the chunk's frames (4 by default; a short last chunk simply samples fewer)
and samples them after the context with the pyramid schedule; the window then keeps the last
``max_frames - chunk`` frames (7 - 3: the model sees at most 8 frames, new ones included). The
chunk's actions are the poses its frames must reach, turned into frame actions against the
current pose with the context's poses (:class:`pwbench.diffusion.poses.FrameActionFeatures`).
Lockstep batches (``reset_batch``/``step_batch``) run one batched forward per sampler row; each
clip's noise comes from its own generator seeded from ``context.seed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from baselines.wpe.weights import load_small
from baselines.wpe.world import WPEWorld
from pwbench.diffusion.codec import signed_pixels, view_frames
from pwbench.diffusion.poses import FrameActionFeatures
from pwbench.models.base import Frames, LockstepModel, ModelSpec, RolloutContext, WorldModel, check_stacked_views
from pwbench.models.options import apply_threads
from pwbench.protocol import TaskSpec


@dataclass
class _Clip:
    latents: torch.Tensor  # (n, C, h, w) the context window, oldest first; the last is the current frame
    poses: torch.Tensor  # (n, 7)
    generator: torch.Generator


class WPEModel(LockstepModel):
    def __init__(self, model: WPEWorld, task: TaskSpec, actions: FrameActionFeatures, num_steps: int,
                 pyramid: bool, variant: str, extra: dict | None = None) -> None:
        cfg = model.config
        check_stacked_views(cfg.name, (cfg.view_height, cfg.view_width), task)
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        self.model = model
        self.actions = actions
        self.num_steps = num_steps
        self.pyramid = pyramid
        self.views = tuple(task.views)
        self.chunk = cfg.chunk
        self.keep = cfg.net.max_frames - cfg.chunk
        self.spec = ModelSpec(
            name="wpe", variant=variant, resolution=tuple(task.resolution), chunk_size=cfg.chunk, views=self.views,
            context_frames=1, num_parameters=sum(p.numel() for p in model.net.parameters()),
            description="WPE (WorldGym, arXiv 2506.00613): DiT with spatial and causal temporal attention, RoPE, "
                        "per-frame noise (diffusion forcing), 3 views stacked; shared small residual EDM recipe, "
                        + ("pyramid" if pyramid else "block") + " Euler sampler",
            extra={"num_steps": num_steps, "pyramid": pyramid, **(extra or {})})
        self.clips: list[_Clip] = []
        self.chunk_seconds: list[float] = []

    def reset_batch(self, contexts: list[RolloutContext]) -> None:
        dev = self.model.device
        self.clips = []
        for c in contexts:
            pix = signed_pixels(np.stack([c.frames[v][-1] for v in self.views])[None], dev)  # (1, V, 3, H, W)
            pose = torch.as_tensor(np.asarray(c.state[-1:], dtype=np.float32), device=dev)
            self.clips.append(_Clip(self.model.encode_views(pix), pose,
                                    torch.Generator(device=dev).manual_seed(int(c.seed))))
        self.chunk_seconds = []

    @torch.no_grad()
    def step_batch(self, actions: list[np.ndarray], joints: list[np.ndarray]) -> list[Frames]:
        n = self.chunk_length(actions, len(self.clips))
        start = time.perf_counter()
        dev = self.model.device
        poses = torch.stack([torch.cat([c.poses, torch.as_tensor(np.asarray(a, np.float32), device=dev)])
                             for c, a in zip(self.clips, actions, strict=True)])
        window = torch.stack([c.latents for c in self.clips])
        current_pose = poses[:, window.shape[1] - 1]
        new = self.model.predict_chunk(window, n, self.actions(poses, current_pose), [c.generator for c in self.clips],
                                       self.num_steps, self.pyramid)
        outputs = []
        for clip, lat, pose in zip(self.clips, new, poses, strict=True):
            clip.latents = torch.cat([clip.latents, lat])[-self.keep:]
            clip.poses = pose[-self.keep:]
            outputs.append(view_frames(self.model.decode_views(lat), self.views))
        self.chunk_seconds.append(time.perf_counter() - start)
        return outputs


def build(task: TaskSpec, device: str = "cpu", *, num_steps: int | None = None, pyramid: bool | None = None,
          weights: str | None = None, threads: int | None = None) -> WorldModel:
    """pwbench factory: ``droid-sim`` -> the shipped small weights (or ``weights=DIR``).

    Options: ``num_steps`` (sampler steps) and ``pyramid`` (the staggered schedule, or all new
    frames together), both defaulting to the weights' validated choice; ``weights``; ``threads``.
    The released WPE checkpoints are Open-X / Bridge models (``baselines.wpe.checkpoint``): no
    DROID weights exist, so ``--task droid`` needs weights trained with ``pwbench train wpe``."""
    if task.name != "droid-sim":
        raise ValueError(f"wpe has trained weights for droid-sim only; no public DROID WPE exists "
                         f"(task {task.name!r}); see docs/baselines/wpe.md")
    apply_threads(threads)
    model, meta = load_small(weights, device=device)
    steps = int(meta.get("num_steps_default", model.config.recipe.num_steps)) if num_steps is None else num_steps
    stagger = bool(meta.get("pyramid_default", True)) if pyramid is None else pyramid
    extra = {k: meta[k] for k in ("train_steps", "seed") if k in meta}
    extra["train_episodes"] = len(meta.get("train_episodes", []))
    extra["config"] = model.config.name  # with or without a pose map
    return WPEModel(model, task, FrameActionFeatures.from_facts(meta), steps, stagger, variant="small-droid-sim",
                    extra=extra)
