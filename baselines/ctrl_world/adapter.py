"""Ctrl-World behind pwbench's ``WorldModel`` interface (``reset`` + ``step``).

Per step (4 new frames): the chunk's poses are the current pose plus the 4 actions; the 6
history latents/poses come from the buffer at ``[0, 0, -8, -6, -4, -2]``; the sampler returns
5 latents whose frame 0 re-predicts the current frame and is dropped; the 5th latent and pose
are pushed to the buffer and become the next condition. As in the original replay, the model
reads only the start frame s0 of the context (the buffer is 24 copies of it).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from baselines.ctrl_world.action_encoder import normalize_bound
from baselines.ctrl_world.checkpoint import DROID_Q01, DROID_Q99, load_official, load_small
from baselines.ctrl_world.config import CONFIGS
from baselines.ctrl_world.history import HistoryBuffer
from baselines.ctrl_world.model import CtrlWorld
from pwbench import protocol
from pwbench.models.base import Frames, ModelSpec, RolloutContext, WorldModel
from pwbench.protocol import TaskSpec

CHUNK = 4


class CtrlWorldModel(WorldModel):
    def __init__(self, model: CtrlWorld, task: TaskSpec, q01: np.ndarray, q99: np.ndarray,
                 num_steps: int | None = None, variant: str = "", device: str = "cpu",
                 extra: dict[str, Any] | None = None) -> None:
        cfg = model.config
        if (cfg.view_height, cfg.view_width) != tuple(task.resolution):
            raise ValueError(f"{cfg.name} runs at {cfg.view_height}x{cfg.view_width} per view, "
                             f"task {task.name} at {task.resolution}")
        if tuple(task.views) != protocol.VIEWS:
            raise ValueError("Ctrl-World stacks exactly the three DROID views in protocol order")
        self.model = model
        self.device = torch.device(device)
        self.dtype = next(model.unet.parameters()).dtype
        self.q01 = torch.as_tensor(q01, dtype=torch.float32, device=self.device)
        self.q99 = torch.as_tensor(q99, dtype=torch.float32, device=self.device)
        self.num_steps = int(num_steps or cfg.num_steps)
        self.views = tuple(task.views)
        self.spec = ModelSpec(
            name="ctrl-world", variant=variant, resolution=tuple(task.resolution), chunk_size=CHUNK,
            views=self.views, context_frames=1,
            num_parameters=sum(p.numel() for p in model.parameters()),
            description="Ctrl-World (arXiv 2510.10125): SVD spatio-temporal UNet with frame-level pose "
                        "conditioning, 3 views stacked, memory [0,0,-8,-6,-4,-2], EDM Euler sampler + CFG 1->2",
            extra={"num_steps": self.num_steps, "history_idx": list(cfg.history_idx), **(extra or {})},
        )
        self.buffer = HistoryBuffer(cfg.history_idx)
        self.chunk_seconds: list[float] = []
        self._gen: torch.Generator | None = None
        self._text: torch.Tensor | None = None

    def _pixels(self, frames: dict[str, np.ndarray]) -> torch.Tensor:
        """{view: uint8 (T, H, W, 3)} -> (T, V, 3, H, W) in [-1, 1]."""
        x = np.stack([frames[v] for v in self.views], axis=1)
        return torch.from_numpy(x).to(self.device).permute(0, 1, 4, 2, 3).float() / 127.5 - 1.0

    def reset(self, context: RolloutContext) -> None:
        self._gen = torch.Generator(device=self.device).manual_seed(int(context.seed))
        current = {v: context.frames[v][-1:] for v in self.views}
        latent = self.model.encode_views(self._pixels(current), generator=self._gen)[0].to(self.dtype)
        pose = torch.as_tensor(np.asarray(context.state[-1], dtype=np.float32), device=self.device)
        self.buffer.reset(latent, pose, self.model.config.buffer_prefill)
        self._text = self.model.text_embeds([context.instruction]).to(self.dtype)
        self.chunk_seconds = []

    def step(self, actions: np.ndarray, joints: np.ndarray) -> Frames:
        if self._gen is None:
            raise RuntimeError("step() before reset()")
        n = len(actions)
        if not 1 <= n <= CHUNK:
            raise ValueError(f"Ctrl-World steps 1..{CHUNK} frames at a time, got {n}")
        start = time.perf_counter()
        acts = np.asarray(actions, dtype=np.float32)
        acts = np.concatenate([acts, np.repeat(acts[-1:], CHUNK - n, axis=0)])  # pad a short last chunk
        cur_latent, cur_pose = self.buffer.current
        hist_latents, hist_poses = self.buffer.gather()
        chunk_poses = torch.cat([cur_pose[None], torch.from_numpy(acts).to(self.device)])
        poses = normalize_bound(torch.cat([hist_poses, chunk_poses]), self.q01, self.q99)[None]
        latents = self.model.predict_chunk(cur_latent[None], hist_latents[None], poses, self._text,
                                           self._gen, num_steps=self.num_steps)[0]
        self.buffer.push(latents[-1], chunk_poses[-1])
        pix = self.model.decode_views(latents[1:1 + n])
        out = ((pix.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 0, 3, 4, 2).cpu().numpy()
        self.chunk_seconds.append(time.perf_counter() - start)
        return {v: out[i] for i, v in enumerate(self.views)}


def build(task: TaskSpec, device: str = "cpu", **options: Any) -> WorldModel:
    """pwbench factory: ``droid-sim`` -> shipped small weights; ``droid`` -> official checkpoint.

    Options: ``num_steps`` (sampler steps; default 50 official, 3 small), ``weights`` (path
    override), ``threads`` (torch CPU threads).
    """
    if task.name not in CONFIGS:
        raise ValueError(f"ctrl-world has variants for tasks {sorted(CONFIGS)}, not {task.name!r}")
    if "threads" in options:
        torch.set_num_threads(int(options["threads"]))
    num_steps = options.get("num_steps")
    if task.name == "droid":
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        model = load_official(device=device, dtype=dtype, weights=options.get("weights"))
        return CtrlWorldModel(model, task, np.array(DROID_Q01), np.array(DROID_Q99), num_steps,
                              variant="official-droid", device=device)
    model, meta = load_small(options.get("weights"), device=device)
    extra = {k: meta[k] for k in ("train_steps", "seed") if k in meta}
    extra["train_episodes"] = len(meta.get("train_episodes", []))
    return CtrlWorldModel(model, task, np.array(meta["pose_q01"]), np.array(meta["pose_q99"]), num_steps,
                          variant="small-droid-sim", device=device, extra=extra)
