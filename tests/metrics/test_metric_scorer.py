"""FrameScorer: output contract, regions and coverage, the GT cache, batching, input checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from metric_images import add_noise, blur, robot_mask, structured
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pwbench import protocol
from pwbench.metrics import KEYS, FrameScorer
from pwbench.metrics.feature_cache import FeatureCache

T, H, W = 6, 48, 64


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt = np.stack([structured(H, W, "scene", seed=s) for s in range(T)])
    pred = np.stack([add_noise(blur(f, 1), 0.03, seed=i) for i, f in enumerate(gt)])
    return pred, gt, robot_mask(T, H, W)


def test_output_contract(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, mask = clip
    for m in (None, mask):
        out = scorer.score(pred, gt, m)
        assert list(out) == [*KEYS, "mask_coverage"]
        assert set(KEYS) == {f"{a}_{b}" for a in protocol.METRICS for b in protocol.REGIONS}
        for value in out.values():
            assert isinstance(value, np.ndarray) and value.dtype == np.float64 and value.shape == (T,)
    out = scorer.score(pred, gt)
    for key in KEYS:
        assert np.isnan(out[key]).all() == (not key.endswith("_full"))
    assert np.isnan(out["mask_coverage"]).all()


def test_regions_match_direct_computation(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, mask = clip
    out = scorer.score(pred, gt, mask)
    r = (protocol.SSIM_WINDOW - 1) // 2
    for i in range(T):
        a, b = pred[i] / 255.0, gt[i] / 255.0
        assert out["psnr_full"][i] == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1.0), abs=1e-6)
        _, smap = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=1.0, channel_axis=-1, full=True)
        smap, m = smap[r:-r, r:-r], mask[i, r:-r, r:-r]
        assert out["ssim_full"][i] == pytest.approx(smap.mean(), abs=1e-4)
        for region, sel in (("masked", mask[i]), ("background", ~mask[i])):
            want = 10 * np.log10(1 / np.mean((a - b)[sel] ** 2))
            assert out[f"psnr_{region}"][i] == pytest.approx(want, abs=1e-6)
        assert out["ssim_masked"][i] == pytest.approx(smap[m].mean(), abs=1e-4)
        assert out["ssim_background"][i] == pytest.approx(smap[~m].mean(), abs=1e-4)
        assert out["mask_coverage"][i] == pytest.approx(mask[i].mean())


def test_coverage_threshold_gives_nan(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, _ = clip
    mask = np.zeros((T, H, W), bool)
    need = int(np.ceil(protocol.MASK_MIN_COVERAGE * H * W))  # 16 px of 3072
    assert need == 16  # 4x4 blocks in the middle, inside the SSIM crop
    mask[1, 20:23, 30:35] = True  # 15 px: just under the threshold
    mask[2, 20:24, 30:34] = True  # 16 px: exactly at it
    mask[3] = True
    mask[4] = True
    mask[4, 20:23, 30:35] = False  # background just under
    # a mask entirely inside the cropped border has no SSIM pixels: NaN for SSIM only
    mask[5, :1, :] = True
    out = scorer.score(pred, gt, mask)
    for metric in protocol.METRICS:
        masked, background = out[f"{metric}_masked"], out[f"{metric}_background"]
        assert np.isnan(masked[[0, 1]]).all() and not np.isnan(masked[[2, 3, 4]]).any(), metric
        assert np.isnan(masked[5]) == (metric == "ssim"), metric
        assert np.isnan(background[[3, 4]]).all() and not np.isnan(background[[0, 1, 2]]).any(), metric
    # an all-true mask gives the full-frame PSNR / SSIM on the masked side
    assert out["psnr_masked"][3] == pytest.approx(out["psnr_full"][3], abs=1e-9)
    assert out["ssim_masked"][3] == pytest.approx(out["ssim_full"][3], abs=1e-6)
    np.testing.assert_allclose(out["mask_coverage"][[0, 3]], [0.0, 1.0])


def test_identical_frames_hit_the_psnr_cap(scorer: FrameScorer, clip: Any) -> None:
    _, gt, mask = clip
    out = scorer.score(gt, gt.copy(), mask)
    for region in protocol.REGIONS:
        assert np.all(out[f"psnr_{region}"] == protocol.PSNR_CAP_DB)


def test_gt_cache_gives_identical_values(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, mask = clip
    plain = scorer.score(pred, gt, mask)
    before = scorer.cache_info()
    first = scorer.score(pred, gt, mask, gt_key="clip/view")
    second = scorer.score(pred, gt, mask, gt_key="clip/view")
    info = scorer.cache_info()
    assert (info.misses, info.hits) == (before.misses + 1, before.hits + 1)
    for key in plain:
        np.testing.assert_array_equal(first[key], plain[key])
        np.testing.assert_array_equal(second[key], plain[key])
    other_gt = gt[::-1].copy()  # same key, different frames: recomputed, not reused
    fresh = scorer.score(pred, other_gt, mask, gt_key="clip/view")
    assert scorer.cache_info().stale == info.stale + 1
    np.testing.assert_array_equal(fresh["lpips_full"], scorer.score(pred, other_gt, mask)["lpips_full"])


def test_feature_cache_is_bounded() -> None:
    cache = FeatureCache(max_bytes=3 * 400)
    feats = [torch.zeros(100)]  # 400 bytes
    for key in "abcd":
        cache.put(key, "fp", feats)
    assert cache.get("a", "fp") is None and cache.get("d", "fp") is not None
    info = cache.info()
    assert info.entries == 3 and info.bytes == 1200
    cache.put("huge", "fp", [torch.zeros(1000)])
    assert cache.get("huge", "fp") is None
    cache.clear()
    assert cache.info().entries == 0


def test_batching_and_input_types_do_not_change_values(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, mask = clip
    reference = scorer.score(pred, gt, mask)
    small = FrameScorer.__new__(FrameScorer)  # share the loaded model, change only the batch size
    small.__dict__.update(scorer.__dict__, batch_size=4, gt_cache=FeatureCache())
    other = small.score(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(mask))
    for key in reference:
        np.testing.assert_allclose(other[key], reference[key], rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("bad, match", [
    (lambda p: p.astype(np.float32), "uint8"),
    (lambda p: p[:, :, :-1], "identical shapes"),
    (lambda p: p[:-1], "identical shapes"),
    (lambda p: p[..., 0], r"\(T, H, W, 3\)"),
    (lambda p: p.tolist(), "numpy array or torch tensor"),
])
def test_bad_frames_are_refused(scorer: FrameScorer, clip: Any, bad: Any, match: str) -> None:
    pred, gt, _ = clip
    with pytest.raises(ValueError, match=match):
        scorer.score(bad(pred), gt)


def test_bad_masks_are_refused(scorer: FrameScorer, clip: Any) -> None:
    pred, gt, mask = clip
    with pytest.raises(ValueError, match="bool"):
        scorer.score(pred, gt, mask.astype(np.uint8))
    with pytest.raises(ValueError, match="shape"):
        scorer.score(pred, gt, mask[:, :-1])
    with pytest.raises(ValueError, match="batch_size"):
        FrameScorer(batch_size=0)


def test_every_tensor_goes_to_the_scorers_device(scorer: FrameScorer, clip: Any, monkeypatch) -> None:
    """Device plumbing without a GPU: the LPIPS converter must be told the scorer's device and the
    PSNR / SSIM kernels must get tensors already there (a CUDA scorer that let a converter default
    to the CPU ran SSIM on the CPU and fed LPIPS CPU tensors)."""
    import pwbench.metrics.scorer as module

    seen: list[Any] = []

    def spy_converter(convert):
        def wrapped(model, frames, device=None):
            seen.append(device)
            return convert(model, frames, device if device is not None else "cpu")
        return wrapped

    def spy_kernel(kernel):
        def wrapped(pred, gt, *args, **kwargs):
            seen.extend([pred.device, gt.device])
            return kernel(pred, gt, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(module, "frame_features", spy_converter(module.frame_features))
    monkeypatch.setattr(module, "ssim_map", spy_kernel(module.ssim_map))
    monkeypatch.setattr(module, "squared_error", spy_kernel(module.squared_error))
    pred, gt, mask = clip
    scorer.score(pred, gt, mask)
    assert len(seen) == 2 + 2 * 2  # one batch: the converter twice, two kernels with two tensors each
    assert all(d is not None and torch.device(d) == scorer.device for d in seen)
