"""Change from the last context frame: how far a model's frames move, beside how far the recorded ones do.

Why: on droid-sim a frame that stays put scores well on LPIPS (copy-last, which never moves, leads
every LPIPS cell), so a model can gain LPIPS by predicting less motion, and fine-tuning on its own
rollouts did exactly that (docs/reproducing-persistworld.md). The mean absolute difference between
the frame at a horizon and the last context frame, in uint8 levels over every pixel and channel,
for the prediction and for the ground truth, puts that in one number per cell: a ratio well below
1 is a model that stands still (motion and blur together: a blurred frame also differs from the
context). Not a protocol metric: written to ``motion.json`` by ``pwbench motion``, never to
``summary.json`` or the fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def context_change(context: Mapping[str, np.ndarray], frames: Mapping[str, np.ndarray],
                   at: Sequence[int]) -> dict[str, list[float]]:
    """Per view: mean |frame h - context| (uint8 levels) for each h in ``at`` (1-based predicted
    frame numbers); ``context[view]`` (H, W, 3) the last context frame, ``frames[view]`` (T, H, W, 3)."""
    out = {}
    for view, ctx in context.items():
        ref = ctx.astype(np.int16)
        out[view] = [float(np.abs(frames[view][h - 1].astype(np.int16) - ref).mean()) for h in at]
    return out


def summarize_change(clips: Sequence[tuple[dict[str, list[float]], dict[str, list[float]]]],
                     horizons: Mapping[str, int], groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """``clips``: per clip, (predicted, true) from :func:`context_change` over ``horizons``' frames
    in order. -> {horizon: {group: {predicted, truth, ratio, n}}}: means over clips and the group's
    views; ratio = predicted / truth (NaN when the truth does not move)."""
    results: dict[str, dict] = {}
    for i, name in enumerate(horizons):
        results[name] = {}
        for group, views in groups.items():
            pred = [np.mean([p[v][i] for v in views]) for p, _ in clips]
            true = [np.mean([t[v][i] for v in views]) for _, t in clips]
            mp, mt = (float(np.mean(x)) if x else float("nan") for x in (pred, true))
            results[name][group] = {"predicted": mp, "truth": mt, "ratio": mp / mt if mt > 0 else float("nan"),
                                    "n": len(clips)}
    return results
