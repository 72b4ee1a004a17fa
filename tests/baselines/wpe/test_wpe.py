"""WPE's network and sampler against the original code, and the released checkpoints' key manifests.

``fixtures/tiny.pt`` was made with world-model-eval's own ``DiT`` and ``Diffusion`` classes
(upstream 83c0571 == fork da8ae79, CPU, fp32) at a tiny size (dim 64, 2 layers, 4 heads) with
seeded random weights whose qkv projections are sharp enough that RoPE variants differ: inputs,
per-frame timesteps, outputs with true and null actions, the schedule, the pyramid matrices and
one sampled chunk (3 context frames + 1, guidance 1 and 3) with the window after every step.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.wpe.checkpoint import load_official, manifest
from baselines.wpe.config import OFFICIAL, WPEConfig
from baselines.wpe.model import WPE, null_action
from baselines.wpe.sampler import PyramidDDIM, pyramid_matrix, sampling_timesteps, sigmoid_alphas_cumprod
from pwbench.errors import PwbenchError
from pwbench.models.manifest import build_meta, key_shapes, num_parameters

REF = torch.load(Path(__file__).with_name("fixtures") / "tiny.pt", weights_only=True)


def _tiny(variant: str) -> WPE:
    c, v = REF["config_tiny"], REF["variants"][variant]
    cfg = WPEConfig(name="tiny", in_channels=c["in_channels"], patch_size=c["patch_size"], dim=c["dim"],
                    num_layers=c["num_layers"], num_heads=c["num_heads"], action_dim=c["action_dim"],
                    max_frames=c["max_frames"], spatial_rope=v["rope_config"]["spatial"])
    model = WPE(cfg).eval()
    assert list(model.state_dict()) == list(v["state_dict"])  # names and order
    model.load_state_dict(v["state_dict"])
    return model


@pytest.mark.parametrize("variant", ["spatial_standard_sharp", "spatial_pixel_sharp"])
def test_the_output_equals_the_original_codes(variant: str) -> None:
    model, v = _tiny(variant), REF["variants"][variant]
    assert torch.equal(null_action(REF["actions"]), v["null_actions"])
    with torch.no_grad():
        out = model(REF["x"], REF["t"], REF["actions"])
        out_null = model(REF["x"], REF["t"], v["null_actions"])
    torch.testing.assert_close(out, v["output"], rtol=0, atol=1e-5)
    torch.testing.assert_close(out_null, v["output_null_action"], rtol=0, atol=1e-5)
    assert (out - out_null).abs().max() > 0.01  # the actions matter at this scale


def test_schedule_and_pyramid_equal_the_originals() -> None:
    d = REF["diffusion"]
    torch.testing.assert_close(sigmoid_alphas_cumprod(), d["alphas_cumprod_float32"], rtol=0, atol=1e-7)
    assert torch.equal(sampling_timesteps(), d["sampling_noise_steps"])
    assert torch.equal(pyramid_matrix(1), d["pyramid_matrix_horizon1"])
    assert torch.equal(pyramid_matrix(4), d["pyramid_matrix_horizon4"])


def test_the_shared_pyramid_schedule_is_wpes_index_matrix() -> None:
    from pwbench.diffusion.sampler import pyramid_schedule

    sigmas = torch.tensor([80.0, 20.0, 5.0, 1.0, 0.0])  # 4 steps
    sched = pyramid_schedule(sigmas, 3)
    assert sched.shape == (4 + 3, 3)
    assert torch.equal(sched, sigmas.flip(0)[pyramid_matrix(3, steps=4)])  # index 0 = clean
    assert torch.equal(sched[0], torch.full((3,), 80.0)) and torch.equal(sched[-1], torch.zeros(3))
    assert (sched[:, 1:] >= sched[:, :-1]).all()  # a later frame is never less noisy


@pytest.mark.parametrize("trajectory", [0, 1])  # guidance 1 (one pass) and 3 (with the null pass)
def test_a_sampled_chunk_equals_the_originals_step_by_step(trajectory: int) -> None:
    model = _tiny("spatial_standard_sharp")
    sc = REF["variants"]["spatial_standard_sharp"]["sampling_chunk"]
    ref = sc["trajectories"][trajectory]
    windows = PyramidDDIM().chunk(model, sc["context_latents"], sc["actions_window"], sc["initial_noise_new_frame"],
                                  ref["cfg"])
    assert len(windows) == len(ref["per_step_window"]) == 10
    for step, (ours, theirs) in enumerate(zip(windows, ref["per_step_window"], strict=True)):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=5e-4, msg=f"step {step}")
    assert torch.equal(windows[-1][:, :3], sc["context_latents"])  # context frames are never touched


@pytest.mark.parametrize("name", ["mixed_openx_9robots_20frames", "bridge_v2"])
def test_full_size_matches_the_released_key_manifest(name: str) -> None:
    model = build_meta(lambda: WPE(OFFICIAL[name]))
    ref = manifest(name)
    keys = key_shapes(model)
    assert list(keys) == list(ref["keys"]) and keys == ref["keys"]
    assert num_parameters(keys) == ref["num_parameters"] == 607_928_384
    assert ref["config"]["rope_config"]["spatial"] == OFFICIAL[name].spatial_rope
    assert ref["eval_kwargs"].get("default_cfg", 1.0) == OFFICIAL[name].guidance


def test_loader_takes_ema_or_a_bare_state_dict_and_names_a_wrong_file(tmp_path: Path) -> None:
    model = _tiny("spatial_pixel_sharp")
    state = model.state_dict()
    torch.save({"model": state, "ema": state, "step": 3}, tmp_path / "train.pt")
    torch.save(state, tmp_path / "bare.pt")
    for file in ("train.pt", "bare.pt"):
        loaded = load_official(tmp_path / file, "bridge_v2", config=model.config)
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
    torch.save({"x_proj.weight": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(PwbenchError, match="not a WPE bridge_v2 checkpoint"):
        load_official(tmp_path / "wrong.pt", "bridge_v2", config=model.config)
    with pytest.raises(PwbenchError, match="does not exist"):
        load_official(tmp_path / "none.pt")
