"""IRASim as a PersistWorld Branchable: fresh adapters leave the rollout exactly the evaluation
rollout, only adapters and the action path train, the loss's x0 is the sampler's denoiser per
row, one real iteration moves the adapters, and the exported adapters run as ``persistworld`` on
an IRASim base that the variant names."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from test_small import ACTIONS, TASK, TINY

from baselines.irasim.adapter import IRASimModel
from baselines.irasim.rl import IRASimBranchable
from baselines.irasim.world import IRASimWorld, SmallIRASimConfig
from pwbench.data.train_split import TrainEpisode
from pwbench.protocol import TASKS, VIEWS
from pwbench.rl.recipe import NFTConfig, PersistWorldTask
from pwbench.testing import PixelScorer, synthetic_context
from pwbench.train.config import TrainConfig
from pwbench.train.loop import train


@pytest.fixture()
def adapter() -> IRASimModel:
    """A fresh tiny IRASim with a pose map, moved off its zero output so that rollouts vary."""
    torch.manual_seed(0)
    config = SmallIRASimConfig(name="tiny-pm", net=replace(TINY.net, pose_map_channels=2, pose_map_hidden=8),
                               view_height=16, view_width=32, latent_channels=4)
    model = IRASimWorld(config)
    with torch.no_grad():
        for p in model.net.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.02)
    return IRASimModel(model.eval(), TASK, ACTIONS, num_steps=2, variant="tiny")


def _episode(index: int = 0, length: int = 40) -> TrainEpisode:
    ctx = synthetic_context((16, 32), length - 9, content_seed=index)
    frames = np.stack([np.concatenate([ctx.frames[v]] * 5)[:length] for v in VIEWS], axis=1)
    return TrainEpisode(index=index, frames=frames, pose=np.concatenate([ctx.state, ctx.future_actions]),
                        instruction=ctx.instruction)


def test_fresh_adapters_roll_out_as_the_harness_and_only_they_and_the_action_path_train(adapter):
    ep = _episode()
    ctx = replace(synthetic_context((16, 32), 30, seed=3), frames={v: ep.frames[:3, i] for i, v in enumerate(VIEWS)},
                  state=ep.pose[:3], seed=7)
    adapter.reset(ctx)
    expected = [adapter.step(ep.pose[3 + 15 * j: 18 + 15 * j], np.zeros((15, 7))) for j in range(2)]
    world = IRASimBranchable(adapter, lora_rank=2, lora_alpha=4)
    state = world.start([ep], [2], [7])
    got = [world.advance(state, [ep.pose[3 + 15 * j: 18 + 15 * j]]).frames[0] for j in range(2)]
    assert all(np.array_equal(a[v], b[v]) for a, b in zip(expected, got, strict=True) for v in VIEWS)
    names = {n for n, _ in world.trainable()}
    assert any(".lora_A." in n for n in names) and any(".lora_B." in n for n in names)
    assert any(n.startswith("net.embed_state.") for n in names) and any(n.startswith("net.pose_map.") for n in names)
    assert all(".lora_" in n or n.startswith(("net.embed_state.", "net.pose_map.")) for n in names)
    assert all(not p.requires_grad for n, p in adapter.model.named_parameters() if n not in names)
    assert {t.rsplit(".", 1)[-1] for t in world.lora_targets} == {"qkv", "proj"}


def test_the_loss_x0_is_the_samplers_denoiser_per_row(adapter):
    world = IRASimBranchable(adapter, lora_rank=2, lora_alpha=4)
    ep = _episode()
    state = world.branch(world.start([ep], [2], [7]), 3, [1, 2, 3])
    current = torch.stack([state.clips[0].latent] * 2)  # every branch starts from the same condition
    chunk = world.advance(state, [ep.pose[3:18]] * 3)
    assert not torch.equal(chunk.target[0], chunk.target[1])  # branches draw their own noise
    rows = torch.tensor([2, 0])
    noisy = chunk.target[rows] + 0.7 * torch.randn(chunk.target[rows].shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        per_row = world.x0(chunk, rows, noisy, torch.full((2,), 0.7))
        scalar = adapter.model.denoiser(current, chunk.condition.actions[rows])(noisy, torch.tensor(0.7))
        mixed = world.x0(chunk, rows, noisy, torch.tensor([0.7, 3.0]))
    assert torch.allclose(per_row, scalar, atol=1e-5)
    assert torch.allclose(mixed[0], per_row[0], atol=1e-5) and not torch.allclose(mixed[1], per_row[1])


def test_one_real_iteration_trains_the_adapters(adapter, tmp_path):
    world = IRASimBranchable(adapter, lora_rank=2, lora_alpha=4)
    task = PersistWorldTask("tiny-irasim", world, [_episode(0), _episode(1)],
                            NFTConfig(k=2, prefix=(0, 1), future=(1, 1), loss_samples=2), PixelScorer())
    lora_b = [p for n, p in world.trainable() if ".lora_B." in n]
    assert all(torch.count_nonzero(p) == 0 for p in lora_b)
    train(task, TrainConfig(steps=1, batch_size=1, warmup=1), tmp_path, progress=False)
    assert any(torch.count_nonzero(p) > 0 for p in lora_b)
    row = json.loads((tmp_path / "metrics.jsonl").read_text())
    assert row["step"] == 1 and row["candidate_psnr_full"] > 0


def test_irasim_adapters_run_as_persistworld_on_an_irasim_base_the_variant_names(tmp_path):
    """On the shipped small IRASim: untrained adapters reproduce it exactly, under a variant that
    says the base is IRASim (never the paper's Ctrl-World)."""
    from baselines.irasim.adapter import build as build_irasim
    from baselines.irasim.rl import branchable
    from baselines.persistworld.adapter import build
    from pwbench.rl.adapters import save_adapters

    task = TASKS["droid-sim"]
    world, base = branchable(task, lora_rank=2, lora_alpha=4.0, num_steps=1)
    save_adapters({n: p.detach() for n, p in world.trainable()}, tmp_path,
                  {"lora_rank": 2, "lora_alpha": 4.0, "base": base, "model": "irasim", "steps": 0})
    pw, plain = build(task, adapters=str(tmp_path), num_steps=1), build_irasim(task, num_steps=1)
    assert pw.spec.name == "persistworld" and pw.spec.variant == "irasim-small-droid-sim"
    assert pw.spec.extra["base_model"] == "irasim"
    ctx = synthetic_context(task.resolution, 15, seed=1)
    outputs = []
    for model in (pw, plain):
        model.reset(ctx)
        outputs.append(model.step(ctx.future_actions[:15], ctx.future_joints[:15]))
    assert all(np.array_equal(outputs[0][v], outputs[1][v]) for v in VIEWS)


def test_the_recorded_target_is_the_recordings_code_less_the_rows_own_condition(adapter):
    """The ground-truth ablation's target: every slot a recorded frame's code minus the row's own
    condition latent (after an own-context chunk, not the recording's)."""
    from pwbench.diffusion.codec import signed_pixels

    world = IRASimBranchable(adapter, lora_rank=2, lora_alpha=4)
    ep = _episode()
    state = world.start([ep], [2], [7])
    world.advance(state, [ep.pose[3:18]])
    chunk = world.advance(state, [ep.pose[18:33]])
    target = world.recorded(chunk, [ep.frames[18:33]])
    assert target.shape == chunk.target.shape
    code = adapter.model.encode_views(signed_pixels(ep.frames[18:33])).float()
    assert torch.allclose(target[0], code - chunk.condition.current[0].float(), atol=1e-5)
    assert not torch.allclose(chunk.condition.current[0].float(),
                              adapter.model.encode_views(signed_pixels(ep.frames[17:18])).float()[0])
    with pytest.raises(ValueError, match="rows of 15 frames"):
        world.recorded(chunk, [ep.frames[18:30]])
