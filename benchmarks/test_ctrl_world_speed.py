"""Speed of one training step of the small Ctrl-World on CPU (batch 4, random latents and pose features),
with and without the perceptual term (``--perceptual-weight``: LPIPS of the 4 decoded chunk frames
x 3 views of each window), side by side in one run.

The rollout of every small model (Ctrl-World, IRASim, WPE: 16 clips x 11 s, clip by clip and in
lockstep) is timed side by side in ``benchmarks/test_rollout_speed.py``.

Run: ``PWBENCH_BENCH_THREADS=2 .venv/bin/pytest benchmarks/test_ctrl_world_speed.py``
(threads default 1, so that numbers on a shared machine are comparable). Figures:
docs/performance.md.
"""

from __future__ import annotations

import os

import pytest
import torch

from baselines.ctrl_world.config import SMALL
from baselines.ctrl_world.loss import estimate_chunk
from baselines.ctrl_world.model import CtrlWorld
from pwbench.train.perceptual import estimate_loss, perceptual_for

THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))


@pytest.mark.parametrize("perceptual_weight", [0.0, 2.0], ids=["x0-loss", "x0-loss+lpips"])
def test_small_train_step(benchmark, perceptual_weight: float) -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = CtrlWorld(SMALL)
    h, w = SMALL.latent_hw
    frames = SMALL.num_history + SMALL.num_frames
    latents = torch.randn(4, frames, SMALL.vae.latent_channels, h, w)
    feats = torch.rand(4, frames, SMALL.action_dim) * 2 - 1
    text = torch.randn(4, SMALL.text.projection_dim)
    params = [p for n, p in model.named_parameters() if n.startswith(("unet.", "action_encoder."))]
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    perceptual = perceptual_for(model.codec.decode_views_with_grad, perceptual_weight)

    def step() -> None:
        loss = estimate_loss(estimate_chunk(model, latents, feats, text, generator=gen), SMALL.sigma_data, perceptual)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(threads=THREADS, batch_size=4, perceptual_weight=perceptual_weight)
