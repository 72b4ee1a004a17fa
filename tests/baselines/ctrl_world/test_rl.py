"""Ctrl-World as a PersistWorld Branchable: adapters start as the identity, only adapters and the
action encoder train, the loss's x0 is the sampler's denoiser, and one real iteration runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baselines.ctrl_world.action_encoder import PoseEncoder
from baselines.ctrl_world.adapter import CtrlWorldModel
from baselines.ctrl_world.model import CtrlWorld
from baselines.ctrl_world.rl import CtrlWorldBranchable
from pwbench.data.train_split import TrainEpisode
from pwbench.protocol import VIEWS, TaskSpec
from pwbench.rl.recipe import NFTConfig, PersistWorldTask
from pwbench.testing import PixelScorer, synthetic_context
from pwbench.train.config import TrainConfig
from pwbench.train.loop import train

TASK = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator", mask_version="v",
                description="tiny")


@pytest.fixture()
def adapter(tiny_residual_model) -> CtrlWorldModel:
    """A fresh tiny residual model per test (LoRA injection changes the module in place)."""
    torch.manual_seed(0)
    model = CtrlWorld(tiny_residual_model.config.with_(pose_map_channels=2, pose_map_hidden=16)).eval()
    torch.nn.init.normal_(model.unet.conv_out.weight, std=0.02)  # not the zero-init identity: outputs vary
    poses = PoseEncoder("continuous", np.full(7, -1.0), np.full(7, 1.0), np.full(7, 0.05))
    return CtrlWorldModel(model, TASK, poses, num_steps=2)


def _episode(index: int = 0, length: int = 20) -> TrainEpisode:
    ctx = synthetic_context((16, 32), length - 9, content_seed=index)
    frames = np.stack([np.concatenate([ctx.frames[v]] * 3)[:length] for v in VIEWS], axis=1)
    pose = np.concatenate([ctx.state, ctx.future_actions])
    return TrainEpisode(index=index, frames=frames, pose=pose, instruction=ctx.instruction)


def _roll(world: CtrlWorldBranchable, ep: TrainEpisode) -> list:
    state = world.start([ep], [2], [7])
    return [world.advance(state, [ep.pose[3 + 4 * j:7 + 4 * j]]) for j in range(2)]


def test_adapters_start_as_the_identity_and_only_they_and_the_action_encoder_train(adapter):
    ep = _episode()
    base = {n: p.detach().clone() for n, p in adapter.model.named_parameters()}
    before = [c.frames[0] for c in _roll_plain(adapter, ep)]
    world = CtrlWorldBranchable(adapter, lora_rank=2, lora_alpha=4)
    after = [c.frames[0] for c in _roll(world, ep)]
    assert all(np.array_equal(a[v], b[v]) for a, b in zip(before, after, strict=True) for v in VIEWS)
    names = [n for n, _ in world.trainable()]
    assert any(".lora_A." in n for n in names) and any(".lora_B." in n for n in names)
    assert any(n.startswith("action_encoder.") for n in names) and any(n.startswith("pose_map.") for n in names)
    assert not any(n.startswith(("vae.", "text_encoder.")) or (n.startswith("unet.") and ".lora_" not in n)
                   for n in names)
    assert all(not p.requires_grad for n, p in adapter.model.named_parameters() if n not in set(names))
    assert {t.split(".")[-1] for t in world.lora_targets} >= {"to_q", "to_k", "to_v", "0"}
    assert set(base) <= {n.replace(".base_layer", "") for n, _ in adapter.model.named_parameters()}


def _roll_plain(adapter: CtrlWorldModel, ep: TrainEpisode) -> list:
    """The same two chunks without adapters (the Branchable's rollout without injecting LoRA)."""
    world = CtrlWorldBranchable.__new__(CtrlWorldBranchable)
    world.adapter, world.model, world.views, world.chunk_frames = adapter, adapter.model, adapter.views, 4
    return _roll(world, ep)


def test_the_loss_x0_is_the_samplers_denoiser_per_row(adapter):
    world = CtrlWorldBranchable(adapter, lora_rank=2, lora_alpha=4)
    ep = _episode()
    state = world.branch(world.start([ep], [2], [7]), 3, [1, 2, 3])
    chunk = world.advance(state, [ep.pose[3:7]] * 3)
    rows = torch.tensor([2, 0])
    g = torch.Generator().manual_seed(0)
    noisy = chunk.target[rows] + 0.7 * torch.randn(chunk.target[rows].shape, generator=g)
    per_row = world.x0(chunk, rows, noisy, torch.full((2,), 0.7))
    scalar = world.model.denoiser(chunk.condition.denoiser.rows(rows))(noisy, torch.tensor(0.7))
    assert torch.allclose(per_row, scalar, atol=1e-5)
    mixed = world.x0(chunk, rows, noisy, torch.tensor([0.7, 3.0]))
    assert torch.allclose(mixed[0], per_row[0], atol=1e-5) and not torch.allclose(mixed[1], per_row[1])
    assert not torch.equal(chunk.target[0], chunk.target[1])  # branches draw their own noise


def test_one_real_iteration_trains_the_adapters(adapter, tmp_path):
    world = CtrlWorldBranchable(adapter, lora_rank=2, lora_alpha=4)
    config = NFTConfig(k=2, prefix=(0, 1), future=(1, 2), loss_samples=3)
    # LPIPS needs larger frames than the tiny model's 16x32 (tests/rl/test_reward.py runs the real scorer)
    task = PersistWorldTask("tiny-persistworld", world, [_episode(0), _episode(1)], config, PixelScorer())
    lora_b = [p for n, p in world.trainable() if ".lora_B." in n]
    assert all(torch.count_nonzero(p) == 0 for p in lora_b)
    train(task, TrainConfig(steps=1, batch_size=1, warmup=1), tmp_path, progress=False)
    assert any(torch.count_nonzero(p) > 0 for p in lora_b)
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert row["step"] == 1 and row["candidate_psnr_full"] > 0 and row["branch_s"] > 0


def test_the_recorded_target_is_the_recordings_code_from_the_rows_own_current_frame(adapter):
    """The ground-truth ablation's target: slot 0 a zero residual (the row's own current frame),
    slots 1.. the recorded frames encoded as the start frame is, minus that current frame."""
    from pwbench.diffusion.codec import signed_pixels

    world = CtrlWorldBranchable(adapter, lora_rank=2, lora_alpha=4)
    eps = [_episode(0), _episode(1)]
    state = world.start(eps, [2, 5], [7, 8])
    world.advance(state, [eps[0].pose[3:7], eps[1].pose[6:10]])  # an own-context prefix chunk
    chunk = world.advance(state, [eps[0].pose[7:11], eps[1].pose[10:14]])
    target = world.recorded(chunk, [eps[0].frames[7:11], eps[1].frames[10:14]])
    assert target.shape == chunk.target.shape
    current = chunk.condition.current
    assert torch.count_nonzero(target[:, 0]) == 0
    code = world.model.encode_views(signed_pixels(eps[1].frames[10:14])).float()
    assert torch.allclose(target[1, 1:], code - current[1], atol=1e-5)
    start_code = world.model.encode_views(signed_pixels(eps[1].frames[5:6])).float()[0]
    assert not torch.allclose(current[1], start_code)  # the context is the model's own, not the recording
    with pytest.raises(ValueError, match="rows of 4 frames"):
        world.recorded(chunk, [eps[0].frames[7:10], eps[1].frames[10:13]])


def test_per_row_sigmas_work_with_guidance_too(tiny_model):
    from baselines.ctrl_world.model import ChunkCondition

    cfg = tiny_model.config
    assert cfg.max_guidance > 1.0  # the tiny official-style config samples with CFG
    n, c, h, w = 2, cfg.unet.out_channels, 2 * 3, 4
    cond = ChunkCondition(torch.randn(n, c, h, w), torch.randn(n, cfg.num_history, c, h, w),
                          torch.randn(n, cfg.num_history + cfg.num_frames, cfg.action_dim), None, 0.0)
    x = torch.randn(n, cfg.num_frames, c, h, w)
    with torch.no_grad():
        den = tiny_model.denoiser(cond)
        per_row = den(x, torch.tensor([0.5, 2.0]))
        for i, s in enumerate((0.5, 2.0)):  # each row as if denoised alone at its own sigma
            alone = tiny_model.denoiser(cond.rows(torch.tensor([i])))(x[i:i + 1], torch.tensor(s))
            assert torch.allclose(per_row[i:i + 1], alone, atol=1e-5)
