"""The small WPE: copy-last when untrained, diffusion-forcing loss, pyramid chunks that keep the
context, trainer (bit-exact resume, export) and adapter (window, short chunk, seeds, lockstep)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.wpe.adapter import WPEModel, build
from baselines.wpe.train import main
from baselines.wpe.weights import load_small
from baselines.wpe.world import SMALL, SMALL_NET, SMALL_POSE_MAP, SmallWPEConfig, WPEWorld
from pwbench.diffusion.edm import loss_weight
from pwbench.diffusion.estimate import X0Estimate
from pwbench.diffusion.poses import FrameActionFeatures
from pwbench.errors import PwbenchError
from pwbench.models.shards import SmallWeightsError
from pwbench.protocol import VIEWS, TaskSpec
from pwbench.testing import synthetic_context

TINY = SmallWPEConfig(name="tiny", net=replace(SMALL_NET, name="tiny", in_channels=4, dim=32, num_layers=1,
                                               num_heads=2), view_height=16, view_width=32, latent_channels=4)
TASK = TaskSpec(name="tiny", dataset_id="x", resolution=(16, 32), mask_source="simulator", mask_version="v",
                description="tiny")
ACTIONS = FrameActionFeatures(np.full(7, -1.0), np.full(7, 1.0), np.full(7, 0.1), np.full(7, 0.02))
A = FrameActionFeatures.dim


def _trained_a_little(config: SmallWPEConfig = TINY, scale: float = 0.02) -> WPEWorld:
    torch.manual_seed(0)
    model = WPEWorld(config)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model.eval()


# two layers and larger weights, so that temporal attention (what the frame cache holds) matters
# to the output: a wrong cache then shows far above the tolerance
DEEPER = replace(TINY, net=replace(TINY.net, num_layers=2))


def test_untrained_model_is_copy_last_and_keeps_the_context() -> None:
    torch.manual_seed(0)
    model = WPEWorld(TINY).eval()
    window = torch.randn(2, 3, 4, 6, 4)
    traj = model.chunk_trajectory(window, 4, torch.randn(2, 7, A), torch.Generator().manual_seed(0), num_steps=2)
    assert len(traj.states) == 2 + 4 - 1 + 1  # the pyramid: steps + new - 1 network calls
    context = window - window[:, -1:]
    assert all(torch.equal(s[:, :3], context) for s in traj.states)  # context frames are given, never moved
    pred = model.predict_chunk(window, 4, torch.randn(2, 7, A), torch.Generator().manual_seed(0), num_steps=1)
    sd, smax = SMALL.recipe.sigma_data, SMALL.recipe.sigma_max
    spread = sd**2 / (smax**2 + sd**2) * math.sqrt(smax**2 + sd**2)
    assert (pred - window[:, -1:]).std().item() == pytest.approx(spread, rel=0.15)  # scatter around the current
    block = model.chunk_trajectory(window, 4, torch.randn(2, 7, A), torch.Generator().manual_seed(0), num_steps=2,
                                   pyramid=False)
    assert len(block.states) == 3


def test_loss_trains_only_frames_after_the_reference() -> None:
    model = _trained_a_little().train()
    latents = torch.randn(3, 8, 4, 6, 4)
    k = torch.tensor([0, 3, 6])
    loss = model.training_loss(latents, torch.randn(3, 8, A), k, torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss) and model.net.final_layer.linear.weight.grad.abs().sum() > 0
    with torch.no_grad():  # temporal attention is causal: a later frame never changes an earlier estimate
        x, sigma, acts = torch.randn(2, 8, 4, 6, 4), torch.rand(2, 8) + 0.1, torch.randn(2, 8, A)
        ref, code, cs = torch.tensor([2, 2]), torch.randn(2, 4, 6, 4), torch.zeros(2)
        before = model.denoise(x, sigma, ref, code, cs, acts)
        x[:, 7] += 1.0
        after = model.denoise(x, sigma, ref, code, cs, acts)
    assert torch.equal(before[:, :7], after[:, :7]) and not torch.equal(before[:, 7], after[:, 7])

def test_estimate_gives_the_training_loss_by_hand_and_the_frames_after_each_reference() -> None:
    """The split estimate (what a perceptual term reads) is the training loss's; that loss is the
    EDM-weighted squared error toward the recorded residuals, averaged over the frames after each
    window's reference; and exactly those frames are output, as absolute latents."""
    model = _trained_a_little()
    sd = TINY.recipe.sigma_data
    latents, actions, k = torch.randn(3, 8, 4, 6, 4), torch.randn(3, 8, A), torch.tensor([0, 3, 6])
    with torch.no_grad():
        est = model.estimate(latents, actions, k, torch.Generator().manual_seed(5))
        loss = model.training_loss(latents, actions, k, torch.Generator().manual_seed(5))
    assert torch.equal(est.x0_loss(sd), loss)
    after = [(i, f) for i in range(3) for f in range(int(k[i]) + 1, 8)]  # 7 + 4 + 1 frames
    weight = loss_weight(est.sigma.reshape(3, 8), sd)
    by_hand = sum(weight[i, f] * ((est.x0[i, f] - (latents[i, f] - latents[i, k[i]])) ** 2).mean()
                  for i, f in after) / len(after)
    torch.testing.assert_close(loss, by_hand)
    pred, target = est.predicted_frames()
    assert pred.shape == (len(after), 1, 4, 6, 4)
    torch.testing.assert_close(target[:, 0], torch.stack([latents[i, f] for i, f in after]))
    torch.testing.assert_close(pred[:, 0], torch.stack([est.x0[i, f] + latents[i, k[i]] for i, f in after]))
    with pytest.raises(ValueError, match="not both"):
        X0Estimate(est.x0, est.target, est.sigma, est.current, True, first_output=1, predicted=est.predicted)


@pytest.mark.parametrize(("rope", "pose_map"), [("standard", 0), ("pixel", 0), ("standard", 2)])
def test_incremental_network_equals_one_pass_over_the_window(rope: str, pose_map: int) -> None:
    from baselines.wpe.model import WPE
    torch.manual_seed(0)
    net = WPE(replace(TINY.net, temporal_rope=rope, spatial_rope=rope, num_layers=2, pose_map_channels=pose_map,
                      pose_map_hidden=8, input_size=(4, 6))).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        x, t, a = torch.randn(2, 7, 4, 6, 4), torch.rand(2, 7) * 999, torch.randn(2, 7, A)
        full = net(x, t, a)
        cache = net.new_cache()
        head = net(x[:, :4], t[:, :4], a[:, :4], cache, commit=3, window=7)  # frames 0..3, cache 0..2
        rest = net(x[:, 3:], t[:, 3:], a[:, 3:], cache, commit=0, window=7)  # frames 3..6 after the cache
    assert cache[0].length == 3
    assert torch.allclose(head, full[:, :4], atol=1e-5) and torch.allclose(rest, full[:, 3:], atol=1e-5)
    with pytest.raises(ValueError, match="7-frame window, not 8"):  # its keys carry 7-frame RoPE positions
        net(x[:, 3:], t[:, 3:], a[:, 3:], cache, window=8)
    with pytest.raises(ValueError, match="window="):
        net(x[:, 3:], t[:, 3:], a[:, 3:], cache)


def _plain_sampler_states(model: WPEWorld, window: torch.Tensor, acts: torch.Tensor, pyramid: bool,
                          first: torch.Tensor) -> list[torch.Tensor]:
    """The sampler without the cache: every call runs the whole window."""
    from pwbench.diffusion.residual import to_residual
    from pwbench.diffusion.sampler import euler_sample_frames, pyramid_schedule
    cfg, (b, n) = model.config, window.shape[:2]
    current = window[:, -1]
    sigmas = cfg.recipe.schedule(2).sigmas()
    rows = pyramid_schedule(sigmas, 4) if pyramid else sigmas[:, None].expand(-1, 4)
    held = torch.full((len(rows), n), cfg.stabilization_sigma)
    x = torch.cat([to_residual(window, current), first], dim=1)

    def denoise(xx, sigma, moving):
        sigma = torch.where(sigma > 0, sigma, torch.full_like(sigma, cfg.stabilization_sigma))
        out = model.denoise(xx, sigma.expand(b, -1), torch.full((b,), n - 1), current / model.scaling_factor,
                            torch.zeros(b), acts)
        return torch.cat([xx[:, :n], out[:, n:]], dim=1)

    return euler_sample_frames(denoise, x, torch.cat([held, rows], dim=1)).states


@pytest.mark.parametrize("pyramid", [True, False])
def test_cached_sampler_equals_running_the_whole_window_every_call(pyramid: bool, monkeypatch) -> None:
    from baselines.wpe.model import FrameCache
    model = _trained_a_little(DEEPER, scale=0.3)
    window, acts = torch.randn(2, 3, 4, 6, 4), torch.randn(2, 7, A)
    traj = model.chunk_trajectory(window, 4, acts, torch.Generator().manual_seed(0), num_steps=2, pyramid=pyramid)
    plain = _plain_sampler_states(model, window, acts, pyramid, traj.states[0][:, 3:])
    assert len(plain) == len(traj.states) and torch.equal(plain[0], traj.states[0])  # the same start
    # float32 rounding only: the cached path runs shorter windows (up to the last moving frame), so its
    # kernels sum in another order, and this deliberately sensitive network (larger weights) amplifies
    # that: 3.6e-4 on states of |x| up to 18 with the pyramid on an AVX-512 Xeon (under 1e-4 on an AVX2
    # EPYC), 1e-6 with the block sampler
    tol = 1e-3
    assert max((a - b).abs().max().item() for a, b in zip(plain[1:], traj.states[1:], strict=True)) <= tol
    # the check can fail: cached keys and values 10 % off move the states well past the tolerance (the
    # block sampler, whose cache holds only the context, least: 1.3e-2, 13x; the pyramid 7)
    append = FrameCache.append
    monkeypatch.setattr(FrameCache, "append", lambda self, k, v: append(self, k * 1.1, v * 1.1))
    wrong = model.chunk_trajectory(window, 4, acts, torch.Generator().manual_seed(0), num_steps=2, pyramid=pyramid)
    assert max((a - b).abs().max().item() for a, b in zip(plain, wrong.states, strict=True)) > 5 * tol


def test_cached_pyramid_runs_11_frame_passes_per_chunk_after_4_context_frames(monkeypatch) -> None:
    """The cost the frame cache claims (docs/baselines/wpe.md): 4 + 3 + 2 + 2 frames through the
    network for a 4-frame chunk at 1 step after 4 context frames, instead of 4 calls x 8 = 32."""
    from baselines.wpe.model import WPE
    model, passes = _trained_a_little(), []
    forward = WPE.forward
    monkeypatch.setattr(WPE, "forward", lambda self, x, *a, **k: passes.append(x.shape[1]) or forward(self, x, *a, **k))
    model.chunk_trajectory(torch.randn(1, 4, 4, 6, 4), 4, torch.randn(1, 8, A), torch.Generator().manual_seed(0),
                           num_steps=1)
    assert len(passes) == 4 and sum(passes) == 11


def _rollout(model: WPEModel, ctx) -> dict[str, np.ndarray]:
    model.reset(ctx)
    chunks = [model.step(ctx.future_actions[s:s + 4], None) for s in range(0, ctx.horizon, 4)]
    return {v: np.concatenate([c[v] for c in chunks]) for v in VIEWS}


def test_adapter_window_short_chunk_seeds_and_lockstep() -> None:
    model = WPEModel(_trained_a_little(), TASK, ACTIONS, num_steps=2, pyramid=True, variant="tiny")
    ctx = synthetic_context((16, 32), 14, seed=3)  # chunks 4, 4, 4, 2
    out = _rollout(model, ctx)
    assert all(out[v].shape == (14, 16, 32, 3) and out[v].dtype == np.uint8 for v in VIEWS)
    assert len(model.clips[0].latents) == 4 and len(model.clips[0].poses) == 4  # max_frames 8 - chunk 4
    assert all(np.array_equal(out[v], _rollout(model, ctx)[v]) for v in VIEWS)
    other = _rollout(model, synthetic_context((16, 32), 14, seed=4))
    assert any(not np.array_equal(out[v], other[v]) for v in VIEWS)
    ctx2 = synthetic_context((16, 32), 14, seed=4, content_seed=1)
    model.reset_batch([ctx, ctx2])
    batched = [model.step_batch([ctx.future_actions[s:s + 4], ctx2.future_actions[s:s + 4]], [None, None])
               for s in range(0, 14, 4)]
    first = {v: np.concatenate([b[0][v] for b in batched]) for v in VIEWS}
    assert all(np.abs(first[v].astype(int) - out[v].astype(int)).max() <= 1 for v in VIEWS)
    model.reset(ctx)
    with pytest.raises(ValueError, match="1..4 frames"):
        model.step(np.zeros((5, 7), np.float32), None)


def test_missing_weights_and_other_tasks_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SmallWeightsError, match="pwbench train wpe"):
        load_small(tmp_path / "none")
    with pytest.raises(ValueError, match="droid-sim only"):
        build(TaskSpec(name="droid", dataset_id="x", resolution=(192, 320), mask_source="sam", mask_version="v",
                       description="d"))


def test_train_resume_bit_exact_export_and_load(tiny_dataset: Path, tmp_path: Path, capsys) -> None:
    args = ["--data", str(tiny_dataset), "--batch-size", "1", "--max-episodes", "3", "--val-episodes", "1",
            "--warmup", "1"]
    out, straight = tmp_path / "run", tmp_path / "straight"
    assert main(args + ["--out", str(out), "--steps", "1"]) == 0
    assert main(args + ["--out", str(out), "--steps", "2", "--resume"]) == 0
    assert main(args + ["--out", str(straight), "--steps", "2"]) == 0
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    unbroken = torch.load(straight / "checkpoint.pt", weights_only=True)
    assert resumed["losses"] == unbroken["losses"]
    assert all(torch.equal(resumed["model"][k], v) for k, v in unbroken["model"].items())
    dest = tmp_path / "weights"
    with pytest.raises(PwbenchError, match="--config wpe-droid-sim-small-posemap does not match the checkpoint"):
        main(["--out", str(out), "--export", str(dest), "--config", "wpe-droid-sim-small-posemap"])
    assert main(["--out", str(out), "--export", str(dest)]) == 0  # builds what the checkpoint trains
    _, meta = load_small(dest)
    assert meta["train_steps"] == 2 and meta["config"] == SMALL.name and len(meta["pose_step_scale"]) == 7
    wm = build(TaskSpec(name="droid-sim", dataset_id="x", resolution=(96, 160), mask_source="simulator",
                        mask_version="v", description="s"), weights=str(dest), num_steps=1, pyramid=False)
    ctx = synthetic_context((96, 160), 4, seed=0)
    wm.reset(ctx)
    assert wm.step(ctx.future_actions, ctx.future_joints)[VIEWS[0]].shape == (4, 96, 160, 3)
    capsys.readouterr()
    probe = args + ["--out", str(tmp_path / "probe"), "--probe-actions", str(dest), "--probe-batches", "2",
                    "--batch-size", "2"]
    assert main(probe) == 0  # the validation episode's windows, each with the other's poses
    result = json.loads(capsys.readouterr().out)
    assert result["windows_per_batch"] == 2 and result["loss_own_actions"] > 0 and result["train_sigma"] is None
    assert main(probe + ["--train-sigma", "4.38", "0.5", "20", "200"]) == 0  # asked where the 1-step sampler evaluates
    at80 = json.loads(capsys.readouterr().out)
    assert at80["train_sigma"] == [4.38, 0.5, 20.0, 200.0] and at80["loss_own_actions"] != result["loss_own_actions"]
    with pytest.raises(PwbenchError, match="takes neither --resume nor --init-from"):
        main(probe + ["--resume"])


def test_a_pose_map_starts_at_zero_warm_starts_and_names_its_configuration(tmp_path: Path) -> None:
    from pwbench.models.shards import save_shards
    from pwbench.train.small import warm_start

    pm = replace(TINY, name="tiny-pm", net=replace(TINY.net, pose_map_channels=2, pose_map_hidden=8,
                                                   input_size=(6, 4)))
    plain = _trained_a_little()
    split = {"train_episodes": [0, 1], "validation_episodes": [2]}
    save_shards(plain.state_dict(), tmp_path / "plain", {"config": TINY.name} | split)
    model = WPEWorld(pm).eval()
    assert warm_start(model, tmp_path / "plain", [0, 1], [2])["init_from"]["new_modules"] == ["net.pose_map"]
    x, t, a = torch.randn(2, 5, 6, 4, 4), torch.rand(2, 5) * 999, torch.randn(2, 5, A)
    assert torch.equal(model.net(x, t, a), plain.net(x, t, a))  # zero-initialised: the same network
    with pytest.raises(ValueError, match=r"draws \(6, 4\) latents, got \(4, 6\)"):
        model.net(x.transpose(2, 3), t, a)
    save_shards(WPEWorld(SMALL_POSE_MAP).state_dict(), tmp_path / "pm", {"config": SMALL_POSE_MAP.name})
    loaded, _ = load_small(tmp_path / "pm")
    assert loaded.config == SMALL_POSE_MAP and loaded.net.pose_map is not None
