"""The PersistWorld iteration on a toy world: it runs, it learns toward better candidates only
through the trained policy, the old policy lags as documented, and resume is bit-exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from toy_world import ToyWorld, toy_episodes

from pwbench.rl.recipe import NFTConfig, PersistWorldTask
from pwbench.testing import PixelScorer
from pwbench.train.config import TrainConfig
from pwbench.train.loop import read_checkpoint, train

CFG = NFTConfig(k=4, prefix=(0, 3), future=(1, 2), loss_samples=6)


def make_task(config: NFTConfig = CFG) -> PersistWorldTask:
    torch.manual_seed(0)
    return PersistWorldTask("toy-nft", ToyWorld(), toy_episodes(), config, PixelScorer())


def test_an_iteration_updates_only_the_trained_policy(tmp_path):
    task = make_task()
    before = {n: p.detach().clone() for n, p in task.trainable()}
    frozen = task.world.module.readout.detach().clone()
    state = train(task, TrainConfig(steps=3, batch_size=2, warmup=1, ema_decay=0.5), tmp_path, progress=False)
    assert state.step == 3
    after = dict(task.trainable())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    assert torch.equal(task.world.module.readout, frozen)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    logged = {"prefix_s", "branch_s", "reward_s", "update_s", "candidate_lpips_spread", "candidate_lpips_full",
              "old_eta"}
    assert logged <= set(rows[0])
    # the old policy moved toward the trained one by 1 - eta each step: eta(1..3) = 0.001..0.003
    old = task.policies.copy("old")
    for (_, p), o, ref in zip(task._named, old, task.policies.copy("reference"), strict=True):
        moved = (p - ref).abs().max().item()
        assert not torch.equal(o, ref) and torch.allclose(o, p.detach(), atol=0.05 * moved + 1e-6)


def test_resume_is_bit_exact(tmp_path):
    config = TrainConfig(steps=4, batch_size=2, warmup=1)
    whole = make_task()
    train(whole, config, tmp_path / "whole", progress=False)
    split = make_task()
    train(split, TrainConfig(steps=2, batch_size=2, warmup=1), tmp_path / "split", progress=False)
    resumed = make_task()
    train(resumed, config, tmp_path / "split", resume=read_checkpoint(tmp_path / "split"), progress=False)
    for a, b in zip(whole.module.state_dict().values(), resumed.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    log = lambda p: [json.loads(x)["loss"] for x in (p / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert log(tmp_path / "whole") == log(tmp_path / "split")


def test_candidates_all_alike_leave_the_policy_where_the_old_one_is(tmp_path, monkeypatch):
    task = make_task()
    monkeypatch.setattr("pwbench.rl.recipe.group_rewards", lambda metrics, spec: torch.zeros(len(metrics), CFG.k))
    batch = task.batch(np.random.default_rng(0), 2)
    assert all(torch.equal(r, torch.full((CFG.k,), 0.5)) for r in batch.r)
    task.loss(batch, torch.Generator().manual_seed(0)).backward()  # trained == old at step 0
    assert max(p.grad.abs().max().item() for _, p in task.trainable()) < 1e-6


def test_best_of_k_fine_tunes_on_each_groups_best_candidate_only():
    """The ablation without RL: the same rollouts, every loss sample on the best candidate of its
    group, and the loss is the plain weighted x0 loss (no old-policy term)."""
    from pwbench.rl.nft import denoising_loss

    task = make_task(NFTConfig(k=4, prefix=(0, 3), future=(1, 2), loss_samples=6, objective="best-of-k"))
    batch = task.batch(np.random.default_rng(0), 2)
    assert all(row == int(torch.argmax(batch.r[i])) for i, row in batch.pairs)
    default = make_task().batch(np.random.default_rng(0), 2)  # the same draws otherwise
    assert [i for i, _ in batch.pairs] == [i for i, _ in default.pairs]
    loss = task.loss(batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.item() > 0 and any(p.grad is not None and p.grad.abs().max() > 0 for _, p in task.trainable())
    assert denoising_loss(torch.zeros(1, 3), torch.ones(1, 3), torch.tensor([2.0])).item() == 2.0
    control = make_task(NFTConfig(k=4, prefix=(0, 3), future=(1, 2), loss_samples=6, objective="any-of-k"))
    assert control.batch(np.random.default_rng(0), 2).pairs == default.pairs  # the NFT loss's own samples
    assert "objective" not in NFTConfig().as_dict()  # the default records what older runs recorded
    with pytest.raises(ValueError, match="objective"):
        NFTConfig(objective="sft")


def test_ground_truth_fine_tunes_toward_the_recording_from_the_models_own_context(monkeypatch):
    """The DAgger-like ablation: no branching, rows rolled out together from their own starts, each
    future chunk's target the recorded frame's code while its condition is the model's own state."""
    from pwbench.rl.nft import denoising_loss

    task = make_task(NFTConfig(prefix=(1, 3), future=(1, 2), loss_samples=5, objective="ground-truth"))
    starts, given = [], []
    draw, recorded = task._draw_start, task.world.recorded
    monkeypatch.setattr(task, "_draw_start", lambda rng, chunks: starts.append(draw(rng, chunks)) or starts[-1])
    monkeypatch.setattr(task.world, "recorded", lambda chunk, frames: given.append(frames) or recorded(chunk, frames))
    batch = task.batch(np.random.default_rng(0), 3)
    assert len(starts) == 3 and all(c.target.shape[0] == 3 for c in batch.chunks)
    assert len(batch.pairs) == 5 and all(0 <= row < 3 for _, row in batch.pairs)
    prefix = None
    for p in range(1, 4):  # the drawn prefix: the chunk whose recorded frames were handed over
        if all(np.array_equal(f, ep.frames[t0 + 1 + p: t0 + 2 + p]) for f, (ep, t0) in zip(given[0], starts,
                                                                                          strict=True)):
            prefix = p
    assert prefix is not None
    for j, (chunk, frames) in enumerate(zip(batch.chunks, given, strict=True)):
        for row, (ep, t0) in enumerate(starts):
            assert np.array_equal(frames[row], ep.frames[t0 + 1 + prefix + j: t0 + 2 + prefix + j])
            truth = torch.from_numpy(ep.pose[t0 + prefix + j, :6])
            assert not torch.allclose(chunk.condition.current[row], truth, atol=1e-3)  # own context
        assert torch.equal(chunk.target, recorded(chunk, frames))
    loss = task.loss(batch, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.item() > 0 and any(p.grad is not None and p.grad.abs().max() > 0 for _, p in task.trainable())
    g, by_chunk, by_hand = torch.Generator().manual_seed(0), {}, 0.0  # the plain x0 loss toward the recording
    for i, row in batch.pairs:
        by_chunk.setdefault(i, []).append(row)
    with torch.no_grad():
        for i, rows in sorted(by_chunk.items()):
            x0 = batch.chunks[i].target[rows]
            sigma = task.world.sample_sigma(len(rows), g)
            noisy = x0 + sigma[:, None] * torch.randn(x0.shape, generator=g)
            d = task.world.x0(batch.chunks[i], torch.tensor(rows), noisy, sigma)
            by_hand += denoising_loss(d, x0, task.world.loss_weight(sigma)).item() * len(rows) / len(batch.pairs)
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="k must be at least 2"):
        NFTConfig(k=1)
    with pytest.raises(ValueError, match="future"):
        NFTConfig(future=(0, 2))


def test_train_sigma_replaces_the_models_distribution_in_the_loss(monkeypatch):
    """``--train-sigma``: the update re-noises candidates at the asked sigma, never at the model's own."""
    from pwbench.diffusion.schedule import LogNormalSigma

    seen: list[torch.Tensor] = []
    task = make_task()
    task.train_sigma = LogNormalSigma(4.38, 0.5, 20.0, 200.0)
    world_x0 = task.world.x0
    monkeypatch.setattr(task.world, "x0", lambda chunk, rows, noisy, sigma: seen.append(sigma) or
                        world_x0(chunk, rows, noisy, sigma))
    monkeypatch.setattr(task.world, "sample_sigma", lambda n, g: pytest.fail("the model's own sigma was drawn"))
    batch = task.batch(np.random.default_rng(0), 2)
    task.loss(batch, torch.Generator().manual_seed(0)).backward()
    assert seen and all(bool(((s >= 20) & (s <= 200)).all()) for s in seen)
