"""Helpers shared by the test suite and the benchmarks (one copy of each).

* :func:`reference_lpips`: the ``lpips`` package's model with a given AlexNet backbone, loaded the
  documented way and independently of pwbench's own loader (``lpips`` is a dev dependency);
* :func:`robot_mask`: a moving arm-plus-object mask, the shape object masks have on DROID;
* :func:`synthetic_context`: a rollout context of random frames and a plausible pose path;
* :func:`tiny_sam`: Segment Anything's own architecture (segment_anything's classes) at toy size,
  randomly initialised, for the SAM mask path (no SAM weights exist offline);
* :func:`synthetic_run`: a finished run folder of made-up but schema-valid records (site and
  leaderboard tests and benchmarks at sizes no CPU run reaches: 10 models x 256 clips).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pwbench import protocol
from pwbench.models.base import RolloutContext

ALEXNET_CONVS = (0, 3, 6, 8, 10)  # torchvision's ``features.N`` indices of AlexNet's five convs


def reference_lpips(backbone: dict[str, torch.Tensor], spatial: bool = False) -> Any:
    """``lpips.LPIPS(net='alex', pnet_rand=True, spatial=...)`` with ``backbone`` in its convs."""
    import warnings

    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="alex", pnet_rand=True, spatial=spatial, verbose=False)
    convs = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    for conv, index in zip(convs, ALEXNET_CONVS, strict=True):
        conv.weight.data = backbone[f"features.{index}.weight"].clone()
        conv.bias.data = backbone[f"features.{index}.bias"].clone()
    return model.eval()


def tiny_sam(seed: int = 0) -> Any:
    """A ``segment_anything.modeling.Sam`` with vit_b's structure at toy size (image 64 px, width 32,
    two blocks), randomly initialised: the real classes, prompt path and post-processing."""
    from functools import partial

    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    size, patch, dim = 64, 16, 32
    sam = Sam(
        image_encoder=ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=32, depth=2, num_heads=2,
                                      mlp_ratio=2, out_chans=dim, qkv_bias=True, use_rel_pos=True, window_size=2,
                                      global_attn_indexes=(1,), norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(size // patch, size // patch),
                                     input_image_size=(size, size), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=dim, iou_head_depth=2, iou_head_hidden_dim=16,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2)),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def robot_mask(t: int, h: int, w: int) -> np.ndarray:
    """A moving arm-like mask (a slanted bar and a gripper blob) plus a static object."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((t, h, w), bool)
    for i in range(t):
        x0 = w * (0.3 + 0.3 * np.sin(i / 9))
        arm = (np.abs((xx - x0) - 0.5 * (yy - 0)) < w * 0.04) & (yy < h * 0.6)
        grip = (yy - h * 0.6) ** 2 + (xx - x0 - 0.3 * h) ** 2 < (h * 0.08) ** 2
        obj = (np.abs(yy - h * 0.8) < h * 0.06) & (np.abs(xx - w * 0.7) < w * 0.05)
        out[i] = arm | grip | obj
    return out


def synthetic_context(resolution: tuple[int, int], horizon: int, seed: int = 0, context_frames: int = 9,
                      content_seed: int = 0, clip_id: str = "synthetic") -> RolloutContext:
    """Random uint8 frames for every view and a pose path (a Franka-like home pose plus a small
    random walk, yaw near the +-pi wrap as on droid-sim); ``seed`` is the clip's rollout seed,
    ``content_seed`` draws the frames and poses."""
    h, w = resolution
    rng = np.random.default_rng(content_seed)
    frames = {v: rng.integers(0, 256, (context_frames, h, w, 3), dtype=np.uint8) for v in protocol.VIEWS}
    n = context_frames + horizon
    pose = np.tile(np.array([0.45, 0.0, 0.2, 3.1, 0.0, 0.0, 0.2], np.float32), (n, 1))
    pose[:, :3] += np.cumsum(rng.normal(0, 0.005, (n, 3)), 0).astype(np.float32)
    pose[:, 6] = np.clip(pose[:, 6] + np.cumsum(rng.normal(0, 0.05, n)), 0, 1)
    joints = np.cumsum(rng.normal(0, 0.01, (n, protocol.JOINT_DIM)), 0).astype(np.float32)
    return RolloutContext(clip_id=clip_id, frames=frames, state=pose[:context_frames], joints=joints[:context_frames],
                          instruction="put the red cube in the bowl", seed=seed, horizon=horizon,
                          future_actions=pose[context_frames:], future_joints=joints[context_frames:])


class PixelScorer:
    """A stand-in for :class:`pwbench.metrics.FrameScorer` with its output keys, computed from pixel
    MSE alone (PSNR exact; SSIM and LPIPS replaced by monotone functions of the MSE): for frames
    too small for AlexNet and for tests of code that only ranks candidates."""

    def score(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        mse = ((pred.astype(np.float64) - gt.astype(np.float64)) ** 2).reshape(len(pred), -1).mean(axis=1)
        values = {"psnr": 10 * np.log10(255.0**2 / np.maximum(mse, 1e-3)), "ssim": 1 / (1 + mse / 100),
                  "lpips": mse / (mse + 1000)}
        keys = (f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)
        return {k: values[k.split("_")[0]] for k in keys} | {"mask_coverage": np.ones(len(pred))}


def synthetic_run(folder, model: str, clips: int, horizon: int = 56, seed: int = 0, quality: float = 0.1):
    """A finished run folder (run.json, clips/, timing/, summary.json) of ``clips`` made-up clips on
    droid-sim's views: per-frame LPIPS rising from ``quality``, PSNR and SSIM falling with it. Its
    fingerprint is what the protocol computes for its (synthetic) clip list, so ``pwbench check``
    accepts it outside the official eval set (``official_only=False``)."""
    from pathlib import Path

    from pwbench.io import atomic_write_json
    from pwbench.results.run_dir import RunDir
    from pwbench.results.schema import ClipEntry, ClipRecord, RunManifest
    from pwbench.results.summary import summarize

    task = protocol.TASKS["droid-sim"]
    entries = [ClipEntry(f"ep{i:06d}-s008", i, 8, horizon + 9) for i in range(clips)]
    manifest = {"dataset_id": "synthetic", "revision": "0", "clips": [c.__dict__ for c in entries]}
    fingerprint = protocol.fingerprint(task, manifest)
    run = RunManifest(fingerprint=fingerprint, model=model, horizon=horizon, task=task.name, views=task.views,
                      clips=tuple(entries), horizon_name=None, resolution=tuple(task.resolution), model_options={},
                      dataset={"dataset_id": "synthetic", "revision": "0"}, config={"horizon": str(horizon)})
    run_dir = RunDir(Path(folder))
    run_dir.open(run)
    rng = np.random.default_rng(seed)
    t = np.arange(horizon) / horizon
    for c in entries:
        scores = {}
        for view in task.views:
            lpips = np.clip(quality + 0.25 * t + rng.normal(0, 0.02, horizon), 0, 1)
            metric = {"lpips": lpips, "psnr": 30 - 25 * lpips, "ssim": 1 - lpips}
            scores[view] = {f"{m}_{r}": (metric[m] * (1.3 if r == "masked" else 1.0)).tolist()
                            for m in protocol.METRICS for r in protocol.REGIONS}
            scores[view]["mask_coverage"] = [0.05] * horizon
        run_dir.write_record(ClipRecord.scored(fingerprint, c.clip_id, model, horizon, scores),
                             {"clip_id": c.clip_id, "rollout_s": 1.0, "frames": horizon, "device": "cpu", "batch": 1})
    run = run_dir.read_manifest()  # as written (open() adds the machine and git facts)
    summary = summarize(run, run_dir.records(run.clip_ids), run_dir.timings(), run_dir.model_spec())
    atomic_write_json(run_dir.path / "summary.json", summary.to_json())
    return run_dir.path
