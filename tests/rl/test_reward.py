"""Rewards come from the harness's own metric kernels and rank what they should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pwbench.metrics import FrameScorer
from pwbench.rl.reward import RewardSpec, clip_metrics, group_rewards


def test_clip_metrics_are_the_scorers_means_over_frames_and_views():
    rng = np.random.default_rng(0)
    gt = {v: rng.integers(0, 256, (3, 64, 96, 3), dtype=np.uint8) for v in ("a", "b")}
    pred = {v: np.clip(f.astype(int) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for v, f in gt.items()}
    scorer = FrameScorer()
    got = clip_metrics(scorer, pred, gt)
    for key in ("psnr_full", "ssim_full", "lpips_full"):
        expected = np.mean([scorer.score(pred[v], gt[v])[key].mean() for v in gt])
        assert got[key] == pytest.approx(expected, rel=1e-9)


def test_group_rewards_rank_closer_candidates_higher_and_tie_equal_ones():
    good = {"lpips_full": 0.1, "ssim_full": 0.9, "psnr_full": 30.0}
    bad = {"lpips_full": 0.3, "ssim_full": 0.7, "psnr_full": 20.0}
    rewards = group_rewards([[good, bad, bad], [good, good, good]], RewardSpec())
    assert rewards[0, 0] > rewards[0, 1] == rewards[0, 2]
    assert torch.equal(rewards[1], torch.zeros(3))
    lpips_only = group_rewards([[good, bad]], RewardSpec.parse("lpips_full"))
    assert lpips_only[0, 0] > lpips_only[0, 1]


def test_reward_specs_are_checked():
    assert RewardSpec.parse("lpips_full=2,psnr_masked").terms == {"lpips_full": 2.0, "psnr_masked": 1.0}
    with pytest.raises(ValueError, match="harness metric keys"):
        RewardSpec.parse("fvd=1")
    with pytest.raises(ValueError, match="weights"):
        RewardSpec({"lpips_full": -1.0})


def test_differences_below_a_metrics_resolution_are_not_strong_preferences():
    a = {"lpips_full": 0.2, "ssim_full": 0.8, "psnr_full": 25.0}
    b = {"lpips_full": 0.2 + 1e-6, "ssim_full": 0.8, "psnr_full": 25.0}
    rewards = group_rewards([[a, b]], RewardSpec.parse("lpips_full"))
    assert rewards[0, 0] > rewards[0, 1] and float(rewards[0, 0] - rewards[0, 1]) < 0.05
