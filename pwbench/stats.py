"""Horizons, groups and statistics over per-clip records.

Aggregation order (protocol v1): frame values -> clip score (mean over the horizon's frames,
NaN frames such as masked frames below the coverage threshold left out) -> group score (mean
over the group's views) -> benchmark score (mean over clips, 95 % bootstrap CI over clips).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from pwbench import protocol


def window(kind: str, h: int) -> slice:
    """Frames (0-based) that 'up-to-h' or 'at-h' averages over."""
    if kind == "up_to":
        return slice(0, h)
    if kind == "at":
        return slice(max(0, h - protocol.AT_H_WINDOW), h)
    raise ValueError(f"unknown horizon kind {kind!r}")


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def clip_group_score(per_view: dict[str, Sequence[float | None] | np.ndarray], views: tuple[str, ...],
                     sl: slice) -> float:
    """A clip's score for one metric key over a group of views: mean over views of frame means.
    ``per_view`` values: per-frame lists (None: excluded) or float arrays already converted (NaN)."""
    scores = []
    for view in views:
        if view not in per_view:
            continue
        raw = per_view[view]
        values = (raw if isinstance(raw, np.ndarray) else
                  np.array([math.nan if v is None else v for v in raw], dtype=np.float64))[sl]
        scores.append(_nanmean(values))
    return _nanmean(np.array(scores)) if scores else math.nan


@dataclass(frozen=True)
class Estimate:
    mean: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def clip_scores(records: dict, clip_ids: Sequence[str], key: str, views: tuple[str, ...], sl: slice) -> np.ndarray:
    """Per-clip :func:`clip_group_score` of one metric key from clip records (``.ok``, ``.metrics``),
    NaN for a clip without an ok record: the vector every paired statistic starts from."""
    out = []
    for clip_id in clip_ids:
        record = records.get(clip_id)
        if record is None or not record.ok:
            out.append(math.nan)
            continue
        out.append(clip_group_score({v: record.metrics[v][key] for v in views if v in record.metrics}, views, sl))
    return np.array(out, dtype=np.float64)


def bootstrap_mean(values: np.ndarray, samples: int = protocol.BOOTSTRAP_SAMPLES,
                   seed: int = protocol.BOOTSTRAP_SEED, level: float = protocol.CI_LEVEL) -> Estimate:
    """Mean over clips with a percentile bootstrap CI (seeded, so tables are reproducible)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if values.size == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(samples, values.size))
    means = values[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(mean, float(low), float(high), int(values.size))


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_difference: float  # a - b
    win_rate: float  # share of clips where a is better (ties count half)
    wilcoxon_p: float
    sign_p: float

    def as_dict(self) -> dict[str, float | int]:
        return self.__dict__.copy()


def paired_test(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> PairedResult:
    """Compare two models on the same clips: differences, win rate, Wilcoxon and sign tests."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs the same clips: {a.shape} vs {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan)
    diff = a - b
    better = diff > 0 if higher_is_better else diff < 0
    ties = diff == 0
    win_rate = float((better.sum() + 0.5 * ties.sum()) / diff.size)
    nonzero = diff[~ties]
    if nonzero.size:
        wilcoxon_p = float(sstats.wilcoxon(nonzero).pvalue)
        sign_p = float(sstats.binomtest(int(better[~ties].sum()), int(nonzero.size), 0.5).pvalue)
    else:
        wilcoxon_p = sign_p = 1.0
    return PairedResult(int(diff.size), float(diff.mean()), win_rate, wilcoxon_p, sign_p)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    m = len(order)
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
