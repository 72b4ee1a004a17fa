"""The open-loop autoregressive driver: one clip in, validated predicted frames out.

The driver, not the model, owns the protocol: it builds the context (frames 0..s0 only), hands
out actions chunk by chunk, and checks every output (views, dtype, shape, frame count, range,
NaN/inf). Anything wrong is a :class:`ClipError` naming the clip; nothing is truncated, padded
or resized to make it fit.
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from pwbench.data.evalset import Clip
from pwbench.errors import ClipError, DatasetError
from pwbench.models.base import Frames, RolloutContext, WorldModel, overrides_rollout, supports_batch


@dataclass
class RolloutResult:
    frames: dict[str, np.ndarray]  # view -> uint8 (H, h, w, 3)
    seconds: float


def clip_seed(fingerprint: str, clip_id: str, run_seed: int = 0) -> int:
    """Per-clip seed from the protocol fingerprint, the clip id and the run's seed (``pwbench run
    --seed``; stable across machines). Run seed 0 is the protocol's own draw, the one every
    leaderboard row uses; another run seed draws independent noise for the seed-noise runs."""
    text = f"{fingerprint}:{clip_id}" if run_seed == 0 else f"{fingerprint}:{clip_id}:seed{run_seed}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:4], "little")


def action_donors(clip_ids: list[str], fingerprint: str) -> dict[str, str]:
    """The shuffled-action regime's fixed derangement: clip -> the clip whose actions it gets.

    Sattolo's algorithm, seeded from the fingerprint, draws a uniformly random single cycle over
    the clips, so no clip keeps its own actions and the assignment is the same on every machine."""
    if len(clip_ids) < 2:
        raise ValueError("shuffled actions need at least 2 clips (a clip cannot donate to itself)")
    order = list(clip_ids)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"{fingerprint}:actions".encode()).digest()[:8],
                                               "little"))
    for i in range(len(order) - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: Sattolo, not Fisher-Yates
        order[i], order[j] = order[j], order[i]
    return dict(zip(clip_ids, order, strict=True))


def build_context(clip: Clip, horizon: int, seed: int, with_ground_truth: bool,
                  actions_from: Clip | None = None) -> RolloutContext:
    """The clip's context; ``actions_from`` (shuffled regime) supplies another clip's future
    actions and joints, from that clip's own start frame."""
    clip.require(horizon)
    ep, s0 = clip.episode, clip.start_frame
    future = slice(s0 + 1, s0 + 1 + horizon)
    donor = actions_from or clip
    donor.require(horizon)
    donor_future = slice(donor.start_frame + 1, donor.start_frame + 1 + horizon)
    # copies, never views: a view's .base is the whole episode, future frames included
    return RolloutContext(
        clip_id=clip.clip_id,
        frames={v: f[: s0 + 1].copy() for v, f in ep.frames.items()},
        state=ep.state[: s0 + 1].copy(),
        joints=ep.joints[: s0 + 1].copy(),
        instruction=ep.instruction,
        seed=seed,
        horizon=horizon,
        future_actions=donor.episode.state[donor_future].copy(),
        future_joints=donor.episode.joints[donor_future].copy(),
        ground_truth={v: f[future].copy() for v, f in ep.frames.items()} if with_ground_truth else None,
    )


class ClipTimeout(ClipError):
    """A clip's rollout ran past the run's per-clip time limit."""


@contextmanager
def time_limit(seconds: float | None, clip_id: str) -> Iterator[None]:
    """Raise :class:`ClipTimeout` in the main thread after ``seconds`` (SIGALRM; None: no limit).

    Python code and every interruptible wait stop at once; a model stuck inside one native call
    (a single huge kernel) is stopped when that call returns. Off the main thread, or where
    ``setitimer`` does not exist, there is no limit."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise ClipTimeout(clip_id, f"rollout ran past the per-clip time limit of {seconds:g} s (--clip-timeout)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_clip(model: WorldModel, clip: Clip, horizon: int, seed: int, actions_from: Clip | None = None,
             timeout: float | None = None) -> RolloutResult:
    """Roll a model out on one clip and return validated uint8 frames for every task view."""
    context = build_context(clip, horizon, seed, model.spec.needs_ground_truth, actions_from)
    views, (height, width) = _views_and_size(model, clip)
    start = time.perf_counter()
    try:
        with time_limit(timeout, clip.clip_id):
            if overrides_rollout(model):
                frames = validate_frames(model.rollout(context), views, horizon, (height, width), clip.clip_id,
                                         "rollout()")
            else:
                frames = _drive(model, context, views, (height, width))
    except ClipError:
        raise
    except (Exception, SystemExit) as err:  # a crashing (or exiting) model fails its clip, not the run
        raise ClipError(clip.clip_id, f"model {model.spec.name} raised {type(err).__name__}: {err}") from err
    return RolloutResult(frames, time.perf_counter() - start)


def _views_and_size(model: WorldModel, clip: Clip) -> tuple[tuple[str, ...], tuple[int, int]]:
    """The clip's views (all of which the model must predict) and frame size."""
    views = tuple(clip.episode.frames)
    missing = set(views) - set(model.spec.views)
    if missing:
        raise ClipError(clip.clip_id, f"model {model.spec.name} does not predict views {sorted(missing)}")
    return views, tuple(clip.episode.frames[views[0]].shape[1:3])


def run_clips(model: WorldModel, clips: list[Clip], horizon: int, seeds: list[int],
              donors: list[Clip | None] | None = None,
              timeout: float | None = None) -> list[RolloutResult | ClipError | DatasetError]:
    """Roll several clips out, in lockstep when the model supports batches.

    Returns one result or one error (naming its clip) per clip, in order. If anything goes wrong in a
    batch (a model exception, one bad output, the time limit), the batch is rolled out again clip by
    clip, so the failure is pinned on its own clip and the others still get results. ``timeout``:
    seconds per clip (a batch gets that times its size)."""
    donors = donors or [None] * len(clips)
    if len(clips) > 1 and supports_batch(model) and not overrides_rollout(model) \
            and not model.spec.needs_ground_truth:
        try:
            with time_limit(timeout and timeout * len(clips), clips[0].clip_id):
                return _drive_batch(model, clips, horizon, seeds, donors)
        except (Exception, SystemExit):  # noqa: BLE001 - isolate the failing clip below
            pass
    results: list[RolloutResult | ClipError | DatasetError] = []
    for clip, seed, donor in zip(clips, seeds, donors, strict=True):
        try:
            results.append(run_clip(model, clip, horizon, seed, actions_from=donor, timeout=timeout))
        except (ClipError, DatasetError) as err:  # e.g. an episode too short for the horizon
            results.append(err)
    return results


def _drive_batch(model: WorldModel, clips: list[Clip], horizon: int, seeds: list[int],
                 donors: list[Clip | None]) -> list[RolloutResult | ClipError]:
    contexts = [build_context(c, horizon, s, False, d) for c, s, d in zip(clips, seeds, donors, strict=True)]
    views, size = _views_and_size(model, clips[0])
    for clip in clips[1:]:
        if _views_and_size(model, clip) != (views, size):
            raise ClipError(clip.clip_id, "clips of one batch must share views and resolution")
    start = time.perf_counter()
    model.reset_batch(contexts)
    parts: list[dict[str, list[np.ndarray]]] = [{v: [] for v in views} for _ in clips]
    chunk = model.spec.chunk_size
    for lo in range(0, horizon, chunk):
        hi = min(lo + chunk, horizon)
        outs = model.step_batch([c.future_actions[lo:hi] for c in contexts], [c.future_joints[lo:hi] for c in contexts])
        if len(outs) != len(clips):
            raise ValueError(f"step_batch returned {len(outs)} results for {len(clips)} clips")
        for part, out, ctx in zip(parts, outs, contexts, strict=True):
            checked = validate_frames(out, views, hi - lo, size, ctx.clip_id, f"step_batch() for frames {lo + 1}..{hi}")
            for view in views:
                part[view].append(checked[view])
    share = (time.perf_counter() - start) / len(clips)  # each clip is charged an equal share
    return [RolloutResult({v: np.concatenate(p[v], axis=0) for v in views}, share) for p in parts]


def _drive(model: WorldModel, context: RolloutContext, views: tuple[str, ...],
           size: tuple[int, int]) -> dict[str, np.ndarray]:
    model.reset(context)
    parts: dict[str, list[np.ndarray]] = {v: [] for v in views}
    chunk = model.spec.chunk_size
    for start in range(0, context.horizon, chunk):
        stop = min(start + chunk, context.horizon)
        out = model.step(context.future_actions[start:stop], context.future_joints[start:stop])
        where = f"step() for frames {start + 1}..{stop}"
        checked = validate_frames(out, views, stop - start, size, context.clip_id, where)
        for view in views:
            parts[view].append(checked[view])
    return {v: np.concatenate(p, axis=0) for v, p in parts.items()}


def validate_frames(out: Frames, views: tuple[str, ...], count: int, size: tuple[int, int],
              clip_id: str, where: str) -> dict[str, np.ndarray]:
    if not isinstance(out, dict) and not hasattr(out, "keys"):
        raise ClipError(clip_id, f"{where} returned {type(out).__name__}, expected a dict view -> frames")
    checked = {}
    for view in views:
        if view not in out:
            raise ClipError(clip_id, f"{where} returned no frames for view {view!r}")
        checked[view] = _check_frames(np.asarray(out[view]), count, size, f"{where}, view {view}", clip_id)
    return checked


def _check_frames(frames: np.ndarray, count: int, size: tuple[int, int], where: str, clip_id: str) -> np.ndarray:
    expected = (count, size[0], size[1], 3)
    if frames.shape != expected:
        detail = "too few frames" if frames.ndim == 4 and frames.shape[0] < count and frames.shape[1:] == expected[1:] \
            else "wrong shape"
        raise ClipError(clip_id, f"{where}: {detail}: got shape {tuple(frames.shape)}, expected {expected}")
    if frames.dtype == np.uint8:
        return frames
    if frames.dtype not in (np.float32, np.float64, np.float16):
        raise ClipError(clip_id, f"{where}: dtype {frames.dtype}; frames must be uint8 (or float in [0, 1])")
    if not np.all(np.isfinite(frames)):
        raise ClipError(clip_id, f"{where}: frames contain NaN or inf")
    low, high = float(frames.min()), float(frames.max())
    if low < 0.0 or high > 1.0:
        raise ClipError(clip_id, f"{where}: float frames must lie in [0, 1], got [{low:.4g}, {high:.4g}]")
    return np.round(frames.astype(np.float64) * 255.0).astype(np.uint8)
