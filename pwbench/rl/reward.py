"""Clip-level, multi-view rewards from the harness's own metric kernels.

A candidate's reward is a weighted sum of metric terms. Each term is a harness metric key
(``lpips_full``, ``ssim_full``, ``psnr_full``, or a masked / background one), averaged over the
candidate's frames and views (clip level: dense and low-variance, as the paper says), signed so
that higher is better, and standardised across the candidates of its group before weighting:
the metrics' units are incomparable (dB vs [0, 1]), candidates are only ever compared within their
group, and standardising gives each term the say its weight states. The spread a term is divided
by is floored at the metric's resolution (``RESOLUTION``): candidates that differ by less than
that are treated as equal, so a group of near-identical samples is not blown up into strong
preferences for noise. The default is the paper's combination of LPIPS, SSIM and PSNR over all
views with equal weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pwbench import protocol

DEFAULT_TERMS = {"lpips_full": 1.0, "ssim_full": 1.0, "psnr_full": 1.0}
KEYS = tuple(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)
RESOLUTION = {"psnr": 0.01, "ssim": 1e-4, "lpips": 1e-4}  # differences below these are not preferences


@dataclass(frozen=True)
class RewardSpec:
    terms: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TERMS))

    def __post_init__(self) -> None:
        unknown = [k for k in self.terms if k not in KEYS]
        if unknown or not self.terms:
            raise ValueError(f"reward terms must be harness metric keys ({', '.join(KEYS)}), got {list(self.terms)}")
        if any(w < 0 for w in self.terms.values()) or not any(w > 0 for w in self.terms.values()):
            raise ValueError(f"reward weights must be >= 0 with one > 0, got {self.terms}")

    @classmethod
    def parse(cls, text: str) -> RewardSpec:
        """``"lpips_full=1,ssim_full=1"`` (a bare key weighs 1)."""
        terms = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, weight = part.partition("=")
            terms[key.strip()] = float(weight) if weight else 1.0
        return cls(terms)


def clip_metrics(scorer, pred: dict[str, np.ndarray], gt: dict[str, np.ndarray],
                 masks: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """One candidate: metric key -> mean over its frames and views (uint8 (T, H, W, 3) per view)."""
    per_view = [scorer.score(pred[v], gt[v], mask=None if masks is None else masks[v]) for v in pred]
    return {k: _mean([_mean(s[k]) for s in per_view]) for k in KEYS}


def _mean(values) -> float:
    """Mean of the defined values (a region can be empty on some frames or views); NaN if none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def group_rewards(metrics: list[list[dict[str, float]]], spec: RewardSpec) -> torch.Tensor:
    """metrics[g][k]: candidate k of group g -> rewards (G, K), each term standardised in its group."""
    total = None
    for key, weight in spec.terms.items():
        values = torch.tensor([[m[key] for m in group] for group in metrics], dtype=torch.float64)
        if not torch.isfinite(values).all():
            raise ValueError(f"reward term {key} is undefined for some candidate (no mask pixels?)")
        metric = key.split("_")[0]
        sign = 1.0 if protocol.HIGHER_IS_BETTER[metric] else -1.0
        mean, std = values.mean(dim=1, keepdim=True), values.std(dim=1, unbiased=False, keepdim=True)
        tied = std <= 1e-9 * (1 + mean.abs())  # equal candidates (up to float rounding): no preference
        z = torch.where(tied, torch.zeros_like(values), (values - mean) / std.clamp_min(RESOLUTION[metric]))
        total = sign * weight * z if total is None else total + sign * weight * z
    return total.float()
