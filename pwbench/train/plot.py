"""The loss plot every training run writes next to its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pwbench.io import atomic_path


def plot_losses(losses: list[float], path: str | Path, title: str, ylabel: str = "loss") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = np.asarray(losses, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    if len(y):
        k = max(1, min(100, len(y) // 10))
        smooth = np.convolve(y, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(len(y)), y, alpha=0.25, lw=0.6, label="per step")
        ax.plot(np.arange(k - 1, len(y)), smooth, lw=1.5, label=f"mean of {k}")
        if (y > 0).all():
            ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


RL_PANELS = ("loss", "candidate_lpips_full", "candidate_psnr_full", "candidate_lpips_spread")


def plot_metrics(log: str | Path, path: str | Path, title: str, keys: tuple[str, ...] = RL_PANELS) -> None:
    """One panel per logged scalar of ``metrics.jsonl`` (an RL run's loss and candidate rewards)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = Path(log)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    keys = tuple(k for k in keys if any(k in r for r in rows)) or ("loss",)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), dpi=110, squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        steps = np.array([r["step"] for r in rows if key in r], dtype=float)
        y = np.array([r[key] for r in rows if key in r], dtype=float)
        if len(y):
            k = max(1, min(20, len(y) // 5))
            ax.plot(steps, y, alpha=0.3, lw=0.7)
            ax.plot(steps[k - 1:], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.5)
        ax.set_xlabel("iteration")
        ax.set_title(key.replace("_", " "), fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
