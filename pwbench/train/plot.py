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
