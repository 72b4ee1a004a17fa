"""Group-normalised advantages -> optimality probabilities r in [0, 1] (DiffusionNFT).

Candidates branched from one state form a group. A = (R - mean of the group) / (std + eps),
with the std taken over the whole batch (``std="global"``, DiffusionNFT's default: one noisy
group cannot blow its advantages up) or over the group; then r = 1/2 + 1/2 * clip(A / c, -1, 1)
with c = ``clip`` (DiffusionNFT's ``adv_clip_max`` = 5). A group whose candidates score alike
has A = 0, so r = 1/2: its positive and negative branches cancel and it only holds the policy near
the old one.
"""

from __future__ import annotations

import torch

EPS = 1e-4


def optimality(rewards: torch.Tensor, clip: float = 5.0, std: str = "global") -> torch.Tensor:
    """rewards (G, K) -> r (G, K) in [0, 1]."""
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be (groups, candidates), got shape {tuple(rewards.shape)}")
    if clip <= 0:
        raise ValueError(f"clip must be positive, got {clip}")
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if std == "global":
        scale = rewards.std(unbiased=False) if rewards.numel() > 1 else rewards.new_tensor(0.0)
    elif std == "group":
        scale = rewards.std(dim=1, unbiased=False, keepdim=True)
    else:
        raise ValueError(f"std must be 'global' or 'group', got {std!r}")
    advantage = centred / (scale + EPS)
    return (0.5 + 0.5 * (advantage / clip).clamp(-1.0, 1.0)).clamp(0.0, 1.0)
