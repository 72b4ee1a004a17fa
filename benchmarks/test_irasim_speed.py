"""Speed of one training step of the small IRASim (with its pose map) on CPU, batch 4, random latents
and frame actions: the x0 loss alone, with the perceptual term on all 15 predicted frames of each
window (what its shipped runs 4 and 5 paid), and with ``--perceptual-frames 4`` (as many frames as
Ctrl-World's and WPE's chunks hold), side by side in one run.

Run: ``PWBENCH_BENCH_THREADS=2 .venv/bin/pytest benchmarks/test_irasim_speed.py``
(threads default 1). Figures: docs/performance.md.
"""

from __future__ import annotations

import os

import pytest
import torch

from baselines.irasim.actions import ACTION_DIM
from baselines.irasim.world import SMALL_POSE_MAP, IRASimWorld
from pwbench.train.perceptual import estimate_loss, perceptual_for

THREADS = int(os.environ.get("PWBENCH_BENCH_THREADS", "1"))
CASES = {"x0-loss": (0.0, None), "x0-loss+lpips-15-frames": (5.0, None), "x0-loss+lpips-4-frames": (5.0, 4)}


@pytest.mark.parametrize("case", list(CASES))
def test_small_train_step(benchmark, case: str) -> None:
    weight, frames = CASES[case]
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = IRASimWorld(SMALL_POSE_MAP)
    h, w = SMALL_POSE_MAP.net.input_size
    latents = torch.randn(4, SMALL_POSE_MAP.net.num_frames, SMALL_POSE_MAP.latent_channels, h, w)
    actions = torch.rand(4, SMALL_POSE_MAP.net.num_frames - 1, ACTION_DIM) * 2 - 1  # one per predicted frame
    params = [p for n, p in model.named_parameters() if n.startswith("net.") and p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    perceptual = perceptual_for(model.codec.decode_views_with_grad, weight, frames=frames)
    sigma_data = SMALL_POSE_MAP.recipe.sigma_data

    def step() -> None:
        loss = estimate_loss(model.estimate(latents, actions, gen), sigma_data, perceptual, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(threads=THREADS, batch_size=4, perceptual_weight=weight, perceptual_frames=frames)
