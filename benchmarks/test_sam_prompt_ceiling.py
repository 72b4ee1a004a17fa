"""The ceiling of SAM's prompt rule on droid-sim: masks from a *perfect* segmenter.

No SAM checkpoint is available offline, so SAM's own IoU against the exact simulator masks cannot
be measured here (``pwbench data prepare --task droid-sim --sam-checkpoint PATH`` does it where one
is). What can be measured is how much of robot ∪ objects the prompt rule (``motion-points-v1``,
:mod:`pwbench.data.sam`) can ever find: an oracle predictor answers each prompt point with the
exact mask's connected component under it (or the background's, when the point is off the robot
and objects), and the rule's own filters then keep or reject it (a background piece enclosed by the arm can pass them,
as it could with SAM). The result is the IoU a flawless
SAM would reach with these prompts — its recall limits (still objects, still arm parts) — on the
16 eval clips, exterior views, 11 s. Run: ``.venv/bin/pytest benchmarks/test_sam_prompt_ceiling.py -s``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from segment_anything.utils.transforms import ResizeLongestSide

from pwbench import protocol
from pwbench.data import sam
from pwbench.runner import RunConfig, prepare_eval_set


class OraclePredictor:
    """SamPredictor's interface, answering from the exact masks of the view's frames (a frame is
    recognised by its pixels: identical frames show the same scene)."""

    device = torch.device("cpu")

    def __init__(self, frames: np.ndarray, exact: np.ndarray) -> None:
        self.transform = ResizeLongestSide(1024)
        self.index = {}
        for t, frame in enumerate(frames):
            self.index.setdefault(frame.tobytes(), t)
        self.exact_masks = exact

    def set_image(self, image, image_format="RGB"):
        self.exact = self.exact_masks[self.index[np.ascontiguousarray(image).tobytes()]]
        self.parts, _ = ndimage.label(self.exact)
        self.rest, _ = ndimage.label(~self.exact)

    def predict_torch(self, coords, labels, multimask_output=True):
        h, w = self.exact.shape
        scale = max(h, w) / self.transform.target_length
        masks = []
        for x, y in (coords[:, 0] * scale).round().long().tolist():
            y, x = min(y, h - 1), min(x, w - 1)
            m = self.parts == self.parts[y, x] if self.exact[y, x] else self.rest == self.rest[y, x]
            masks.append(np.stack([m, m, m]))
        scores = torch.tensor([[1.0, 0.0, 0.0]]).expand(len(masks), 3)
        return torch.as_tensor(np.array(masks)), scores, None


def test_prompt_rule_ceiling_on_droid_sim(benchmark) -> None:
    evalset = prepare_eval_set(protocol.TASKS["droid-sim"], RunConfig(model="copy-last", horizon="11s"))
    evalset.prepare(protocol.HORIZON_GRID["11s"], progress=False)
    iou: dict[str, list[float]] = {v: [] for v in sam.MASK_VIEWS}
    recall: dict[str, list[float]] = {v: [] for v in sam.MASK_VIEWS}
    precision: dict[str, list[float]] = {v: [] for v in sam.MASK_VIEWS}
    for clip_id in evalset.clip_ids:
        clip = evalset.load(clip_id)
        for view in sam.MASK_VIEWS:
            frames, exact = clip.episode.frames[view], clip.episode.masks[view]
            got = sam.SamMasker(OraclePredictor(frames, exact)).view_masks(frames)
            iou[view].append(sam.mask_iou(got, exact))
            recall[view].append((got & exact).sum() / exact.sum())
            precision[view].append((got & exact).sum() / max(got.sum(), 1))
    for view in sam.MASK_VIEWS:
        print(f"\n{view}: IoU {np.mean(iou[view]):.3f} (clip min {np.min(iou[view]):.3f}), "
              f"recall {np.mean(recall[view]):.3f}, precision {np.mean(precision[view]):.3f} "
              f"over {len(iou[view])} clips")
    benchmark.extra_info.update({f"iou_{v}": float(np.mean(x)) for v, x in iou.items()})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    assert all(np.mean(x) > 0.5 for x in iou.values())  # measured 2026-12-03: 0.625 / 0.605
