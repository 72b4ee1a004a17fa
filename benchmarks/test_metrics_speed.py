"""Speed of the full metric pass: FrameScorer vs the straightforward per-frame path.

One view of one clip: 56 frames at 192×320 (DROID resolution, the 11 s horizon), a moving
robot-plus-object mask, PSNR + SSIM + LPIPS on full / masked / background. The straightforward
path is what one would write with the usual libraries: torchmetrics' functional PSNR and SSIM
frame by frame (SSIM map border-cropped by hand: torchmetrics does not crop, skimage and the
protocol do), ``lpips.LPIPS`` once per frame for the full value and once with ``spatial=True``
for the map that the masked and background means are taken from, in numpy. (An earlier version
computed that map once per region, i.e. twice per frame, which flattered the ratio.)

Timing is CPU time (``time.process_time``, so another process on the machine does not count) over
``PWBENCH_BENCH_ROUNDS`` interleaved rounds (default 3: straightforward, FrameScorer, FrameScorer
with a warm GT cache, repeated), reported as min and median; the ratio uses the medians.

Run: ``.venv/bin/pytest benchmarks/test_metrics_speed.py -s``. Threads: ``PWBENCH_BENCH_THREADS``
(default 1, so that numbers on a shared machine are comparable).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from pwbench import protocol
from pwbench.metrics import FrameScorer, LpipsWeightsMissing, load_alexnet_backbone
from pwbench.testing import reference_lpips

T, H, W = protocol.HORIZON_GRID["11s"], *protocol.TASKS["droid"].resolution
TIMINGS: dict[str, float] = {}


def make_clip() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tabletop-like GT clip with a moving arm, a prediction that drifts, and the mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    table = np.stack([0.35 + 0.3 * yy / H, 0.3 + 0.2 * xx / W, 0.25 + 0.1 * np.sin(xx / 17)], -1)
    table += 0.03 * rng.standard_normal((H, W, 3))
    gt, pred, mask = (np.empty((T, H, W, 3), np.uint8), np.empty((T, H, W, 3), np.uint8),
                      np.zeros((T, H, W), bool))
    for t in range(T):
        x0 = W * (0.35 + 0.25 * np.sin(t / 9))
        arm = (np.abs(xx - x0 - 0.4 * yy) < 14) & (yy < 0.6 * H)
        grip = (yy - 0.6 * H) ** 2 + (xx - x0 - 0.24 * H) ** 2 < 15**2
        obj = (np.abs(yy - 0.78 * H) < 12) & (np.abs(xx - (0.7 * W - 0.3 * max(t - 30, 0))) < 18)
        mask[t] = arm | grip | obj
        frame = table.copy()
        frame[arm | grip] = (0.85, 0.85, 0.9)
        frame[obj] = (0.8, 0.2, 0.15)
        gt[t] = np.round(np.clip(frame, 0, 1) * 255)
        drift = np.roll(frame, int(t / 8), axis=1) + (0.01 + 0.002 * t) * rng.standard_normal(frame.shape)
        pred[t] = np.round(np.clip(drift, 0, 1) * 255)
    return pred, gt, mask


def reference_models() -> tuple[Any, Any]:
    """``lpips.LPIPS(net='alex')`` (plain and spatial) with the real backbone loaded into it."""
    state, _ = load_alexnet_backbone()
    return reference_lpips(state), reference_lpips(state, spatial=True)


def straightforward(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, ref: Any, ref_spatial: Any
                    ) -> dict[str, np.ndarray]:
    """The per-frame library path the scorer replaces (same protocol rules)."""
    out = {k: np.full(T, np.nan) for k in (*(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS),
                                            "mask_coverage")}
    r = (protocol.SSIM_WINDOW - 1) // 2
    with torch.no_grad():
        for t in range(T):
            p = torch.from_numpy(pred[t]).permute(2, 0, 1)[None].float() / 255
            g = torch.from_numpy(gt[t]).permute(2, 0, 1)[None].float() / 255
            regions = {"masked": mask[t], "background": ~mask[t]}
            cov = mask[t].mean()
            out["mask_coverage"][t] = cov
            valid = {"masked": cov >= protocol.MASK_MIN_COVERAGE,
                     "background": 1 - cov >= protocol.MASK_MIN_COVERAGE}
            psnr = peak_signal_noise_ratio(p.double(), g.double(), data_range=1.0).item()
            out["psnr_full"][t] = min(psnr, protocol.PSNR_CAP_DB)
            sq = ((pred[t].astype(np.float64) - gt[t]) / 255) ** 2
            _, smap = structural_similarity_index_measure(
                p, g, gaussian_kernel=True, sigma=protocol.SSIM_SIGMA, kernel_size=protocol.SSIM_WINDOW,
                data_range=protocol.DATA_RANGE, k1=protocol.SSIM_K1, k2=protocol.SSIM_K2, return_full_image=True)
            smap = smap[0, :, r:-r, r:-r].permute(1, 2, 0).double().numpy()
            out["ssim_full"][t] = smap.mean()
            out["lpips_full"][t] = ref(p, g, normalize=True).item()
            lmap = ref_spatial(p, g, normalize=True)[0, 0].double().numpy() if any(valid.values()) else None
            for name, sel in regions.items():
                if not valid[name]:
                    continue
                mse = sq[sel].mean()
                out[f"psnr_{name}"][t] = min(10 * np.log10(1 / mse), protocol.PSNR_CAP_DB)
                out[f"ssim_{name}"][t] = smap[sel[r:-r, r:-r]].mean()
                out[f"lpips_{name}"][t] = lmap[sel].mean()
    return out


@pytest.fixture(scope="module")
def setup() -> dict[str, Any]:
    torch.set_num_threads(int(os.environ.get("PWBENCH_BENCH_THREADS", "1")))
    try:
        scorer = FrameScorer(device="cpu")
    except LpipsWeightsMissing as err:  # pragma: no cover - environment dependent
        pytest.skip(str(err))
    ref, ref_spatial = reference_models()
    pred, gt, mask = make_clip()
    return {"scorer": scorer, "ref": ref, "ref_spatial": ref_spatial, "pred": pred, "gt": gt, "mask": mask}


def check_close(ours: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    tolerance = {"psnr": 1e-4, "ssim": 1e-4, "lpips": 1e-5, "mask": 1e-12}
    for key, value in want.items():
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=tolerance[key.split("_")[0]], err_msg=key)


ROUNDS = int(os.environ.get("PWBENCH_BENCH_ROUNDS", "3"))


def cpu_seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def test_interleaved_rounds(benchmark: Any, setup: dict[str, Any]) -> None:
    """All three paths, interleaved round by round so drifts in machine load hit each alike."""
    s = setup
    paths: dict[str, Callable[[], dict[str, np.ndarray]]] = {
        "straightforward": lambda: straightforward(s["pred"], s["gt"], s["mask"], s["ref"], s["ref_spatial"]),
        "framescorer": lambda: s["scorer"].score(s["pred"], s["gt"], s["mask"]),
        "framescorer_warm": lambda: s["scorer"].score(s["pred"], s["gt"], s["mask"], gt_key="clip/view"),
    }
    s["scorer"].score(s["pred"], s["gt"], s["mask"], gt_key="clip/view")  # fills the GT cache
    times: dict[str, list[float]] = {name: [] for name in paths}

    def rounds() -> None:
        for _ in range(ROUNDS):
            for name, fn in paths.items():
                seconds, result = cpu_seconds(fn)
                times[name].append(seconds)
                if name == "straightforward":
                    s["want"] = result
                else:
                    check_close(result, s["want"])

    benchmark.pedantic(rounds, rounds=1, iterations=1)
    assert s["scorer"].cache_info().hits >= ROUNDS
    assert 0.02 < np.nanmean(s["mask"].mean((1, 2))) < 0.5  # realistic: a few % to tens of %
    for name, values in times.items():
        TIMINGS[name] = float(np.median(values))
        TIMINGS[name + "_min"] = min(values)


def test_speedup(setup: dict[str, Any]) -> None:
    base, cold, warm = TIMINGS["straightforward"], TIMINGS["framescorer"], TIMINGS["framescorer_warm"]
    mins = {k: TIMINGS[k + "_min"] for k in ("straightforward", "framescorer", "framescorer_warm")}
    print(f"\nmetrics, {T}x{H}x{W}, threads={torch.get_num_threads()}, {ROUNDS} rounds, CPU s median (min): "
          f"straightforward {base:.2f} ({mins['straightforward']:.2f}), FrameScorer {cold:.2f} "
          f"({mins['framescorer']:.2f}) = {base / cold:.2f}x, warm GT cache {warm:.2f} ({mins['framescorer_warm']:.2f})"
          f" = {base / warm:.2f}x")
    assert base / cold >= 3.0, f"FrameScorer is {base / cold:.2f}x the fair straightforward path; the target is 3x"
