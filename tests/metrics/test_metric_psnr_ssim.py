"""PSNR and SSIM kernels against scikit-image, on random and structured frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_images import add_noise, blur, robot_mask, structured
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from pwbench import protocol
from pwbench.metrics import psnr, ssim, ssim_map
from pwbench.metrics.psnr import mse
from pwbench.metrics.ssim import crop_mask, gaussian_window, mean_map

SIZES = [(37, 53), (96, 160), (192, 320)]
KINDS = ["noise", "gradient", "checker", "halves", "scene", "const0.73", "const1", "const0"]


def chw(*imgs: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) images → float (N, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255


def sk_ssim(a: np.ndarray, b: np.ndarray, full: bool = False):  # noqa: ANN201 - skimage's types
    return structural_similarity(a / 255.0, b / 255.0, gaussian_weights=True, sigma=protocol.SSIM_SIGMA,
                                 use_sample_covariance=False, data_range=protocol.DATA_RANGE,
                                 channel_axis=-1, full=full)


def pairs(h: int, w: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every kind against a noisy/blurred version of itself and against the next kind."""
    imgs = [structured(h, w, k, seed=i) for i, k in enumerate(KINDS)]
    out = []
    for i, a in enumerate(imgs):
        out += [(a, add_noise(a, s, seed=i)) for s in (0.002, 0.02, 0.2)]
        out += [(a, blur(a, 2)), (a, imgs[(i + 1) % len(imgs)])]
    return out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_psnr_and_ssim_match_skimage(size: tuple[int, int]) -> None:
    h, w = size
    grid = pairs(h, w)
    if h * w > 20000:  # keep the suite fast: the large size gets every 3rd pair
        grid = grid[::3]
    a = np.stack([p[0] for p in grid])
    b = np.stack([p[1] for p in grid])
    ours_psnr = psnr(torch.from_numpy(a).permute(0, 3, 1, 2), torch.from_numpy(b).permute(0, 3, 1, 2))
    ours_ssim = ssim(chw(*a), chw(*b))
    for i, (x, y) in enumerate(grid):
        if np.array_equal(x, y):
            want_psnr = protocol.PSNR_CAP_DB
        else:
            want_psnr = min(peak_signal_noise_ratio(x / 255.0, y / 255.0, data_range=1.0), protocol.PSNR_CAP_DB)
        assert ours_psnr[i].item() == pytest.approx(want_psnr, abs=1e-4), i
        assert ours_ssim[i].item() == pytest.approx(sk_ssim(x, y), abs=1e-4), i


def test_psnr_float_input_matches_uint8() -> None:
    a, b = structured(40, 50, "scene"), add_noise(structured(40, 50, "scene"), 0.05)
    exact = psnr(torch.from_numpy(a[None]).permute(0, 3, 1, 2), torch.from_numpy(b[None]).permute(0, 3, 1, 2))
    floats = psnr(torch.from_numpy(a[None]).permute(0, 3, 1, 2).double() / 255,
                  torch.from_numpy(b[None]).permute(0, 3, 1, 2).double() / 255)
    assert floats.dtype == torch.float64
    assert floats.item() == pytest.approx(exact.item(), abs=1e-9)


def test_psnr_is_per_frame_and_capped() -> None:
    a = structured(24, 32, "noise")
    b = add_noise(a, 0.1)
    frames_a = torch.from_numpy(np.stack([a, a, a])).permute(0, 3, 1, 2)
    frames_b = torch.from_numpy(np.stack([b, a, b])).permute(0, 3, 1, 2)
    values = psnr(frames_a, frames_b)
    assert values[1].item() == protocol.PSNR_CAP_DB  # identical frame: capped, not inf
    assert values[0].item() == values[2].item() < protocol.PSNR_CAP_DB
    tiny = torch.tensor([1e-12, 0.0, 1.0], dtype=torch.float64)  # 120 dB, inf, 0 dB
    from pwbench.metrics.psnr import psnr_from_mse

    assert psnr_from_mse(tiny).tolist() == [protocol.PSNR_CAP_DB, protocol.PSNR_CAP_DB, 0.0]


def test_masked_psnr_and_ssim_match_numpy() -> None:
    h, w = 96, 160
    mask = robot_mask(3, h, w)
    a = np.stack([structured(h, w, "scene", seed=s) for s in range(3)])
    b = np.stack([add_noise(blur(x, 1), 0.03, seed=7) for x in a])
    ta, tb = torch.from_numpy(a).permute(0, 3, 1, 2), torch.from_numpy(b).permute(0, 3, 1, 2)
    got_psnr = psnr(ta, tb, torch.from_numpy(mask))
    smap = ssim_map(ta.float() / 255, tb.float() / 255)
    got_ssim = mean_map(smap, crop_mask(torch.from_numpy(mask)))
    r = (protocol.SSIM_WINDOW - 1) // 2
    for i in range(3):
        diff = a[i].astype(np.float64) / 255 - b[i].astype(np.float64) / 255
        want = 10 * np.log10(1.0 / np.mean(diff[mask[i]] ** 2))
        assert got_psnr[i].item() == pytest.approx(want, abs=1e-6)
        _, full = sk_ssim(a[i], b[i], full=True)
        cropped, m = full[r:-r, r:-r], mask[i, r:-r, r:-r]
        assert got_ssim[i].item() == pytest.approx(cropped[m].mean(), abs=1e-4)
        # the map itself equals skimage's cropped map, channel-last vs channel-first
        assert np.abs(smap[i].permute(1, 2, 0).numpy() - cropped).max() < 1e-3


def test_empty_mask_gives_nan() -> None:
    a = torch.from_numpy(structured(20, 20, "noise")[None]).permute(0, 3, 1, 2)
    empty = torch.zeros(1, 20, 20, dtype=torch.bool)
    assert torch.isnan(mse(a, a, empty)).all()
    assert torch.isnan(ssim(a.float() / 255, a.float() / 255, empty)).all()


def test_gaussian_window_matches_protocol() -> None:
    taps = gaussian_window(dtype=torch.float64)
    assert taps.numel() == protocol.SSIM_WINDOW
    assert taps.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert torch.equal(taps, taps.flip(0))
    assert taps[6].item() / taps[5].item() == pytest.approx(np.exp(-0.5 / protocol.SSIM_SIGMA**2))


def test_ssim_refuses_frames_smaller_than_window() -> None:
    x = torch.rand(1, 3, 10, 40)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x, x)
    with pytest.raises(ValueError, match="equal shape"):
        ssim(x, torch.rand(1, 3, 10, 41))
