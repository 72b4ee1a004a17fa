"""The small IRASim: copy-last when untrained, frame actions, loss, trainer (bit-exact resume,
export), the adapter (chunks of 15, short last chunk, seeds, lockstep batches) and the optional
pose map (zero at the start, warm-started onto weights without one, chosen by the weights' name)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.irasim.actions import ACTION_DIM, FrameActions
from baselines.irasim.adapter import IRASimModel, build
from baselines.irasim.config import SMALL_NET
from baselines.irasim.train import main
from baselines.irasim.weights import load_small
from baselines.irasim.world import SMALL, SMALL_POSE_MAP, IRASimWorld, SmallIRASimConfig
from pwbench.errors import PwbenchError, WeightsMismatch
from pwbench.models.shards import SmallWeightsError
from pwbench.protocol import VIEWS, TaskSpec
from pwbench.testing import synthetic_context

TINY = SmallIRASimConfig(name="tiny", net=replace(SMALL_NET, name="tiny", input_size=(6, 4), in_channels=4,
                                                  out_channels=4, hidden_size=32, depth=2, num_heads=2),
                         view_height=16, view_width=32, latent_channels=4)
TASK = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator", mask_version="v",
                description="tiny")
ACTIONS = FrameActions(np.full(7, -1.0), np.full(7, 1.0), np.full(7, 0.1), np.full(7, 0.02))


def _trained_a_little(config: SmallIRASimConfig = TINY) -> IRASimWorld:
    torch.manual_seed(0)
    model = IRASimWorld(config)
    with torch.no_grad():
        for p in model.net.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.02)  # move off the zero initialisation
    return model.eval()


def test_untrained_model_is_copy_last() -> None:
    torch.manual_seed(0)
    model = IRASimWorld(TINY).eval()
    current = torch.randn(2, 4, 6, 4)
    actions = torch.randn(2, 15, ACTION_DIM)
    raw = model.net(torch.randn(2, 16, 4, 6, 4), torch.zeros(2), actions, cond_noise=torch.zeros(2))
    assert torch.count_nonzero(raw) == 0  # the original initialisation zeroes the output layer
    pred = model.predict_chunk(current, actions, torch.Generator().manual_seed(0), num_steps=1)
    sd, smax = SMALL.recipe.sigma_data, SMALL.recipe.sigma_max
    spread = sd**2 / (smax**2 + sd**2) * math.sqrt(smax**2 + sd**2)  # c_skip * std of the initial noise
    assert pred.shape == (2, 15, 4, 6, 4)
    assert (pred - current[:, None]).std().item() == pytest.approx(spread, rel=0.1)


def test_frame_actions_cross_the_yaw_wrap_smoothly() -> None:
    poses = torch.zeros(1, 16, 7)
    poses[0, :, 5] = torch.linspace(3.10, 3.24, 16)
    poses[0, :, 5] = torch.remainder(poses[0, :, 5] + math.pi, 2 * math.pi) - math.pi  # wraps to -3.13...
    feats = ACTIONS(poses)
    assert feats.shape == (1, 15, ACTION_DIM)
    step = feats[0, :, 17 + 5] * 0.02  # frame-to-frame yaw change, unscaled
    assert torch.allclose(step, torch.full((15,), 0.14 / 15), atol=1e-4)
    from_cond = feats[0, :, 10 + 5] * 0.1
    assert torch.allclose(from_cond, torch.arange(1, 16) * 0.14 / 15, atol=1e-4)


def test_loss_is_finite_and_trains_the_network_only() -> None:
    model = _trained_a_little()
    model.train()
    latents = torch.randn(3, 16, 4, 6, 4)
    loss = model.training_loss(latents, torch.randn(3, 15, ACTION_DIM), torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.net.final_layer.linear.weight.grad.abs().sum() > 0
    assert all(b.grad is None for b in model.vae.buffers())
    again = model.training_loss(latents, torch.randn(3, 15, ACTION_DIM), torch.Generator().manual_seed(1))
    assert not torch.equal(loss.detach(), again.detach())  # the actions enter the loss


def test_estimate_gives_the_training_loss_and_all_15_frames() -> None:
    """The split estimate (what a perceptual term reads) is the training loss's, and every one of
    the 15 residuals is an output frame, returned as absolute latents."""
    model = _trained_a_little()
    latents = torch.randn(2, 16, 4, 6, 4)
    actions = torch.randn(2, 15, ACTION_DIM)
    with torch.no_grad():
        est = model.estimate(latents, actions, torch.Generator().manual_seed(4))
        loss = model.training_loss(latents, actions, torch.Generator().manual_seed(4))
    assert torch.equal(est.x0_loss(TINY.recipe.sigma_data), loss)
    pred, target = est.predicted_frames()
    assert pred.shape[1] == 15
    torch.testing.assert_close(target, latents[:, 1:])  # the recorded frames after the condition
    torch.testing.assert_close(pred, est.x0 + latents[:, :1])


def _rollout(model: IRASimModel, ctx) -> dict[str, np.ndarray]:
    model.reset(ctx)
    chunks = [model.step(ctx.future_actions[s:s + 15], np.zeros((0, 7))) for s in range(0, ctx.horizon, 15)]
    return {v: np.concatenate([c[v] for c in chunks]) for v in VIEWS}


def test_adapter_chunks_seeds_and_lockstep_batches() -> None:
    model = IRASimModel(_trained_a_little(), TASK, ACTIONS, num_steps=2, variant="tiny")
    ctx = synthetic_context((16, 32), 26, seed=3)  # chunks of 15 and 11
    out = _rollout(model, ctx)
    assert all(out[v].shape == (26, 16, 32, 3) and out[v].dtype == np.uint8 for v in VIEWS)
    assert len(model.chunk_seconds) == 2 and model.spec.chunk_size == 15
    again = _rollout(model, ctx)
    assert all(np.array_equal(out[v], again[v]) for v in VIEWS)
    other = _rollout(model, synthetic_context((16, 32), 26, seed=4))
    assert any(not np.array_equal(out[v], other[v]) for v in VIEWS)
    ctx2 = synthetic_context((16, 32), 26, seed=4, content_seed=1)
    model.reset_batch([ctx, ctx2])
    batched = [model.step_batch([ctx.future_actions[s:s + 15], ctx2.future_actions[s:s + 15]], [None, None])
               for s in range(0, 26, 15)]
    first = {v: np.concatenate([b[0][v] for b in batched]) for v in VIEWS}
    for v in VIEWS:  # a clip's noise is its own: batched equals alone up to float rounding
        assert np.abs(first[v].astype(int) - out[v].astype(int)).max() <= 1
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        IRASimModel(_trained_a_little(), TASK, ACTIONS, num_steps=0, variant="tiny")
    model.reset(ctx)
    with pytest.raises(ValueError, match="1..15 frames"):
        model.step(np.zeros((16, 7), np.float32), np.zeros((16, 7)))


def test_missing_weights_name_the_command(tmp_path: Path) -> None:
    with pytest.raises(SmallWeightsError, match="pwbench train irasim"):
        load_small(tmp_path / "none")
    with pytest.raises(ValueError, match="droid-sim only"):
        build(TaskSpec(name="droid", dataset_id="x", resolution=(192, 320), mask_source="sam", mask_version="v",
                       description="d"))


def _args(data: Path, out: Path) -> list[str]:
    return ["--data", str(data), "--out", str(out), "--batch-size", "1", "--max-episodes", "3",
            "--val-episodes", "1", "--warmup", "1"]


def test_train_resume_bit_exact_export_and_load(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    out, straight = tmp_path / "run", tmp_path / "straight"
    assert main(_args(tiny_dataset, out) + ["--steps", "1"]) == 0
    assert main(_args(tiny_dataset, out) + ["--steps", "2", "--resume"]) == 0
    assert main(_args(tiny_dataset, straight) + ["--steps", "2"]) == 0
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    unbroken = torch.load(straight / "checkpoint.pt", weights_only=True)
    assert resumed["step"] == 2 and resumed["losses"] == unbroken["losses"]
    for key, value in unbroken["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    facts = resumed["facts"]
    assert facts["train_episodes"] == [0, 1] and facts["validation_episodes"] == [2]
    assert len(facts["pose_step_scale"]) == 7 and facts["residual_std_raw"] > 0
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    assert all(f.stat().st_size < 20_000_000 for f in dest.glob("model*.safetensors"))
    model, meta = load_small(dest)
    assert meta["train_steps"] == 2 and json.loads((dest / "training.json").read_text())["config"] == SMALL.name
    assert float(model.vae.scaling_factor) == pytest.approx(facts["scaling_factor"])
    capsys.readouterr()
    probe_args = ["--probe-actions", str(dest), "--probe-batches", "2", "--batch-size", "2"]
    with pytest.raises(PwbenchError, match="does not match the weights in .* trained as irasim-droid-sim-small;"):
        main(_args(tiny_dataset, tmp_path / "probe") + probe_args + ["--config", "irasim-droid-sim-small-posemap"])
    assert main(_args(tiny_dataset, tmp_path / "probe") + probe_args) == 0  # on the validation episode
    probe = json.loads(capsys.readouterr().out)
    assert probe["batches"] == 2 and probe["windows_per_batch"] == 2 and np.isfinite(probe["difference"])
    wm = build(TaskSpec(name="droid-sim", dataset_id="x", resolution=(96, 160), mask_source="simulator",
                        mask_version="v", description="s"), weights=str(dest))
    ctx = synthetic_context((96, 160), 4, seed=0)
    wm.reset(ctx)
    frames = wm.step(ctx.future_actions, ctx.future_joints)
    assert frames[VIEWS[0]].shape == (4, 96, 160, 3)


def test_a_pose_map_starts_at_zero_reaches_predicted_frames_only_and_warm_starts(tmp_path: Path) -> None:
    from pwbench.models.shards import save_shards
    from pwbench.train.small import warm_start

    pm = replace(TINY, name="tiny-pm", net=replace(TINY.net, pose_map_channels=2, pose_map_hidden=8))
    plain = _trained_a_little()
    split = {"train_episodes": [0, 1], "validation_episodes": [2]}
    save_shards(plain.state_dict(), tmp_path / "plain", {"config": TINY.name, "train_steps": 3} | split)
    model = IRASimWorld(pm).eval()
    facts = warm_start(model, tmp_path / "plain", [0, 1], [2])
    assert facts["init_from"]["new_modules"] == ["net.pose_map"] and facts["init_from"]["train_steps"] == 3
    x, t = torch.randn(2, 16, 4, 6, 4), torch.rand(2)
    actions, cn = torch.randn(2, 15, ACTION_DIM), torch.zeros(2)
    assert torch.equal(model.net(x, t, actions, cond_noise=cn), plain.net(x, t, actions, cond_noise=cn))
    torch.nn.init.normal_(model.net.pose_map.proj.weight, std=0.1)  # as if trained
    offsets = model.net.pose_tokens(actions, drop=torch.tensor([False, True]))
    assert offsets.shape == (2, 16, 6, 32)  # (B, F, tokens of a 6x4 canvas in 2x2 patches, D)
    assert torch.count_nonzero(offsets[:, 0]) == 0 and torch.count_nonzero(offsets[1]) == 0
    assert torch.count_nonzero(offsets[0, 1:]) > 0
    assert not torch.equal(model.net(x, t, actions, cond_noise=cn), plain.net(x, t, actions, cond_noise=cn))
    save_shards(model.state_dict(), tmp_path / "pm", {"config": pm.name} | split)
    with pytest.raises(WeightsMismatch, match="keys do not fit"):  # weights the config lacks
        warm_start(IRASimWorld(TINY), tmp_path / "pm", [0, 1], [2])
    with pytest.raises(WeightsMismatch, match="another train/validation split"):
        warm_start(IRASimWorld(pm), tmp_path / "plain", [0], [1, 2])


def test_the_loader_builds_the_configuration_the_weights_name(tmp_path: Path) -> None:
    from pwbench.models.shards import save_shards

    model = IRASimWorld(SMALL_POSE_MAP)
    save_shards(model.state_dict(), tmp_path / "pm", {"config": SMALL_POSE_MAP.name})
    loaded, _ = load_small(tmp_path / "pm")
    assert loaded.config == SMALL_POSE_MAP and loaded.net.pose_map is not None
    save_shards(model.state_dict(), tmp_path / "odd", {"config": "irasim-something-else"})
    with pytest.raises(SmallWeightsError, match="trained as 'irasim-something-else'"):
        load_small(tmp_path / "odd")
    with pytest.raises(SmallWeightsError, match="do not fit"):  # an explicit config still has to fit
        load_small(tmp_path / "pm", config=SMALL)
