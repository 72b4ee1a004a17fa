"""Scoring rolled-out clips: rollouts in, per-clip records out, one failure never more than its clip.

Shared by ``pwbench run`` (live rollouts) and ``pwbench score`` (saved predictions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pwbench.data.evalset import Clip, EvalSet
from pwbench.errors import ClipError, DatasetError
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ClipRecord
from pwbench.rollout import clip_seed, run_clips

if TYPE_CHECKING:
    from pwbench.runner import RunConfig


def score_clips(model, scorer, evalset: EvalSet, run_dir: RunDir, clip_ids: list[str], donors: dict[str, str],
                config: RunConfig, device: str) -> list[tuple[ClipRecord, dict | None]]:
    """Roll out and score a batch of clips; a failure becomes a failed record, never an exception."""
    name, fp, horizon = config.model, evalset.fingerprint, config.frames
    out: dict[str, tuple[ClipRecord, dict | None]] = {}
    loaded = []
    for clip_id in clip_ids:
        try:
            clip = evalset.load(clip_id)
            donor = evalset.load(donors[clip_id]) if clip_id in donors else None
            loaded.append((clip, donor))
        except (ClipError, DatasetError) as err:
            out[clip_id] = (ClipRecord.failed(fp, clip_id, name, horizon, str(err)), None)
    seeds = [clip_seed(fp, c.clip_id, config.seed) for c, _ in loaded]
    results = run_clips(model, [c for c, _ in loaded], horizon, seeds, [d for _, d in loaded],
                        timeout=config.clip_timeout)
    for (clip, _), result in zip(loaded, results, strict=True):
        if isinstance(result, (ClipError, DatasetError)):
            out[clip.clip_id] = (ClipRecord.failed(fp, clip.clip_id, name, horizon, str(result)), None)
            continue
        if config.save_predictions:
            run_dir.save_predictions(clip.clip_id, result.frames)
        try:
            scores = score_frames(scorer, clip, result.frames, horizon)
        except ClipError as err:
            out[clip.clip_id] = (ClipRecord.failed(fp, clip.clip_id, name, horizon, str(err)), None)
            continue
        timing = {"clip_id": clip.clip_id, "rollout_s": result.seconds, "frames": horizon, "device": device,
                  "batch": config.batch}
        out[clip.clip_id] = (ClipRecord.scored(fp, clip.clip_id, name, horizon, scores), timing)
    return [out[c] for c in clip_ids]


def score_frames(scorer, clip: Clip, frames: dict, horizon: int) -> dict:
    """view -> FrameScorer output for one clip's predicted frames; any failure is a ClipError, so
    one unscorable clip fails alone (in ``run`` and in ``score``)."""
    gt, masks = clip.future(horizon)
    try:  # each GT is scored once per run: no cache key
        return {view: scorer.score(pred, gt[view], mask=None if masks is None else masks.get(view))
                for view, pred in frames.items()}
    except Exception as err:  # noqa: BLE001
        raise ClipError(clip.clip_id, f"scoring failed: {type(err).__name__}: {err}") from err
