"""Ctrl-World behind pwbench's ``WorldModel`` interface (``reset`` + ``step``).

Per step (4 new frames): the chunk's poses are the current pose plus the 4 actions; the 6
history latents/poses come from the buffer at ``[0, 0, -8, -6, -4, -2]``; the sampler returns
5 latents whose frame 0 re-predicts the current frame and is dropped; the 5th latent and pose
are pushed to the buffer and become the next condition. As in the original replay, the model
reads only the start frame s0 of the context (the buffer is 24 copies of it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from baselines.ctrl_world.action_encoder import PoseEncoder
from baselines.ctrl_world.checkpoint import DROID_Q01, DROID_Q99, load_official, load_small
from baselines.ctrl_world.config import CONFIGS
from baselines.ctrl_world.history import HistoryBuffer
from baselines.ctrl_world.model import CtrlWorld
from pwbench.diffusion.codec import signed_pixels, view_frames
from pwbench.models.base import Frames, LockstepModel, ModelSpec, RolloutContext, WorldModel, check_stacked_views
from pwbench.models.options import apply_threads
from pwbench.protocol import TaskSpec

CHUNK = 4


class CtrlWorldModel(LockstepModel):
    def __init__(self, model: CtrlWorld, task: TaskSpec, poses: PoseEncoder,
                 num_steps: int | None = None, variant: str = "", device: str = "cpu",
                 extra: dict[str, Any] | None = None, cond_noise: float | None = None) -> None:
        cfg = model.config
        check_stacked_views(cfg.name, (cfg.view_height, cfg.view_width), task)
        self.model = model
        self.device = torch.device(device)
        self.dtype = next(model.unet.parameters()).dtype
        self.poses = poses
        self.num_steps = cfg.num_steps if num_steps is None else int(num_steps)
        if self.num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {self.num_steps}")
        self.cond_noise = cfg.noise_aug_infer if cond_noise is None else float(cond_noise)
        if self.cond_noise < 0:
            raise ValueError(f"cond_noise must be >= 0, got {self.cond_noise}")
        self.views = tuple(task.views)
        self.spec = ModelSpec(
            name="ctrl-world", variant=variant, resolution=tuple(task.resolution), chunk_size=CHUNK,
            views=self.views, context_frames=1,
            num_parameters=sum(p.numel() for p in model.parameters()),
            description="Ctrl-World (arXiv 2510.10125): SVD spatio-temporal UNet with frame-level pose "
                        "conditioning, 3 views stacked, memory [0,0,-8,-6,-4,-2], EDM Euler sampler"
                        + (" + CFG 1->2" if cfg.max_guidance > 1 else "")
                        + (", residual small recipe" if cfg.residual else ""),
            extra={"num_steps": self.num_steps, "cond_noise": self.cond_noise, "history_idx": list(cfg.history_idx),
                   **(extra or {})},
        )
        self.clips: list[_ClipState] = []
        self.chunk_seconds: list[float] = []

    def _pixels(self, frames: dict[str, np.ndarray]) -> torch.Tensor:
        """{view: uint8 (T, H, W, 3)} -> (T, V, 3, H, W) in [-1, 1]."""
        return signed_pixels(np.stack([frames[v] for v in self.views], axis=1), self.device)

    @property
    def buffer(self) -> HistoryBuffer:
        """The memory of the (first) clip being rolled out."""
        return self.clips[0].buffer

    def reset_batch(self, contexts: list[RolloutContext]) -> None:
        """Start several clips, each with its own seed, memory and instruction."""
        self.clips = []
        for context in contexts:
            gen = torch.Generator(device=self.device).manual_seed(int(context.seed))
            current = {v: context.frames[v][-1:] for v in self.views}
            latent = self.model.encode_views(self._pixels(current), generator=gen)[0].to(self.dtype)
            pose = torch.as_tensor(np.asarray(context.state[-1], dtype=np.float32), device=self.device)
            buffer = HistoryBuffer(self.model.config.history_idx)
            buffer.reset(latent, pose, self.model.config.buffer_prefill)
            text = self.model.text_embeds([context.instruction]).to(self.dtype)
            self.clips.append(_ClipState(buffer, gen, text))
        self.chunk_seconds = []

    def step_batch(self, actions: list[np.ndarray], joints: list[np.ndarray]) -> list[Frames]:
        """One chunk for every clip, through one batched UNet call per sampler step. Each clip's
        noise comes from its own generator, so a clip's result does not depend on its batch
        neighbours; it is bit-identical only to runs of the same batch size (float rounding)."""
        start = time.perf_counter()
        inputs = self.chunk_inputs(actions)
        latents = self.model.predict_chunk(inputs.current, inputs.history, inputs.pose_features, inputs.text,
                                           [c.generator for c in self.clips], num_steps=self.num_steps,
                                           cond_noise=self.cond_noise)
        outputs = self.push_chunk(latents, inputs)
        self.chunk_seconds.append(time.perf_counter() - start)
        return outputs

    def chunk_inputs(self, actions: list[np.ndarray]) -> ChunkInputs:
        """The next chunk's inputs for every clip, from its memory and its actions (the absolute
        poses the chunk's frames must reach)."""
        n = self.chunk_length(actions, len(self.clips))
        current, history, feats, chunk_poses = [], [], [], []
        for clip, acts in zip(self.clips, actions, strict=True):
            acts = np.asarray(acts, dtype=np.float32)
            acts = np.concatenate([acts, np.repeat(acts[-1:], CHUNK - n, axis=0)])  # pad a short last chunk
            cur_latent, cur_pose = clip.buffer.current
            hist_latents, hist_poses = clip.buffer.gather()
            poses = torch.cat([cur_pose[None], torch.from_numpy(acts).to(self.device)])
            feats.append(self.poses(torch.cat([hist_poses, poses])[None], cur_pose[None]).to(self.device)[0])
            current.append(cur_latent)
            history.append(hist_latents)
            chunk_poses.append(poses)
        return ChunkInputs(torch.stack(current), torch.stack(history), torch.stack(feats),
                           torch.cat([c.text for c in self.clips]), chunk_poses, n)

    def push_chunk(self, latents: torch.Tensor, inputs: ChunkInputs) -> list[Frames]:
        """Push each clip's last chunk latent and pose to its memory; the chunk's new frames, decoded."""
        outputs = []
        for clip, lat, poses in zip(self.clips, latents, inputs.chunk_poses, strict=True):
            clip.buffer.push(lat[-1], poses[-1])
            outputs.append(view_frames(self.model.decode_views(lat[1:1 + inputs.frames]), self.views))
        return outputs


@dataclass
class ChunkInputs:
    current: torch.Tensor  # (B, C, h, w) scaled latents
    history: torch.Tensor  # (B, H, C, h, w)
    pose_features: torch.Tensor  # (B, H+F, action_dim)
    text: torch.Tensor  # (B, P)
    chunk_poses: list[torch.Tensor]  # per clip (F, 7): current pose + the chunk's actions
    frames: int  # new frames this chunk (4, fewer for a short last chunk)


@dataclass
class _ClipState:
    buffer: HistoryBuffer
    generator: torch.Generator
    text: torch.Tensor  # (1, P)


def build(task: TaskSpec, device: str = "cpu", *, num_steps: int | None = None, cond_noise: float | None = None,
          weights: str | None = None, threads: int | None = None) -> WorldModel:
    """pwbench factory: ``droid-sim`` -> shipped small weights; ``droid`` -> official checkpoint.

    Options: ``num_steps`` (sampler steps; default the config's: 50 official, 1 small),
    ``cond_noise`` (the condition frame's noise level at inference; default the config's
    ``noise_aug_infer``), ``weights`` (a folder of weights instead of the shipped/official ones),
    ``threads`` (torch CPU threads).
    """
    if task.name not in CONFIGS:
        raise ValueError(f"ctrl-world has variants for tasks {sorted(CONFIGS)}, not {task.name!r}")
    apply_threads(threads)
    if task.name == "droid":
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        model = load_official(device=device, dtype=dtype, weights=weights)
        poses = PoseEncoder("bound", DROID_Q01, DROID_Q99)
        return CtrlWorldModel(model, task, poses, num_steps, variant="official-droid", device=device,
                              cond_noise=cond_noise)
    model, meta = load_small(weights, device=device)
    poses = PoseEncoder(model.config.pose_features, meta["pose_q01"], meta["pose_q99"], meta.get("pose_delta_scale"))
    extra = {k: meta[k] for k in ("train_steps", "seed") if k in meta}
    extra["train_episodes"] = len(meta.get("train_episodes", []))
    return CtrlWorldModel(model, task, poses, num_steps, variant="small-droid-sim", device=device, extra=extra,
                          cond_noise=cond_noise)
