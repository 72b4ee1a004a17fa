"""``TrainConfig``: the optimisation settings of one run, typed and checked on resume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pwbench.diffusion.schedule import LogNormalSigma

# settings a resumed run may change without changing what is being trained
RESUMABLE_CHANGES = frozenset({"steps", "minutes", "save_minutes", "threads"})


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    minutes: float | None = None  # stop (and save) after this much training wall time
    batch_size: int = 4
    lr: float = 3e-4
    warmup: int = 50  # linear warm-up steps; 50 is what the shipped small models' runs used (model cards)
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    ema_decay: float = 0.998  # EMA of the trainable parameters (ramped up as (1+t)/(10+t))
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    save_minutes: float = 3.0
    # the training sigma distribution (p_mean, p_std, clip_min, clip_max) in place of the recipe's:
    # e.g. log-normal around ln 80, where a 1-step sampler asks its only question (docs/diffusion.md)
    train_sigma: tuple[float, float, float, float] | None = None
    # weight of LPIPS on the decoded x0 estimate beside the x0 loss (pwbench.train.perceptual); 0: off
    perceptual_weight: float = 0.0
    # LPIPS on this many of each window's predicted frames, drawn at random (None: all of them): a
    # family predicting 15 frames per window otherwise pays ~4x the term of one predicting 4
    perceptual_frames: int | None = None

    def __post_init__(self) -> None:
        checks = {"steps": self.steps >= 0, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
                  "warmup": self.warmup >= 1, "ema_decay": 0 <= self.ema_decay < 1, "grad_clip": self.grad_clip > 0,
                  "threads": self.threads >= 1, "save_minutes": self.save_minutes > 0,
                  "train_sigma": self.train_sigma is None or _valid_sigma(self.train_sigma),
                  "perceptual_weight": self.perceptual_weight >= 0,
                  "perceptual_frames": self.perceptual_frames is None or self.perceptual_frames >= 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid TrainConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        if self.train_sigma is not None:
            d["train_sigma"] = list(self.train_sigma)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        values = dict(d)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        if values.get("train_sigma") is not None:
            values["train_sigma"] = tuple(values["train_sigma"])
        return cls(**values)

    def sigma_distribution(self) -> LogNormalSigma | None:
        """The training sigma this run asks for, or None for its recipe's own."""
        return None if self.train_sigma is None else LogNormalSigma(*self.train_sigma)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields that differ and are not allowed to differ on resume."""
        a, b = self.as_dict(), other.as_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k] and k not in RESUMABLE_CHANGES}


def _valid_sigma(values: tuple[float, ...]) -> bool:
    """Four numbers: p_mean, p_std > 0 and 0 < clip_min < clip_max."""
    return len(values) == 4 and values[1] > 0 and 0 < values[2] < values[3]
