"""The x0-adapted DiffusionNFT loss.

For a clean candidate x0 (the model's own sample, in its diffusion space), noise level sigma and
x_sigma = x0 + sigma * eps, with D_old the old (sampling) policy's x0 prediction (no gradient)
and D the trained one's:

    D+ = (1 - beta) D_old + beta D          D- = (1 + beta) D_old - beta D
    L  = (1 / beta) * E[ w(sigma) * ( r ||D+ - x0||^2 + (1 - r) ||D- - x0||^2 ) ]
         + kl * E[ w(sigma) ||D - D_ref||^2 ]

Squared errors are means over a candidate's elements; ``w`` is the model's EDM loss weight
(``weighting="edm"``, the weight the base model was trained with) or DiffusionNFT's adaptive
1 / mean|D± - x0| (detached, per candidate and branch; ``weighting="adaptive"``). Since x0 is an
affine function of the network output at fixed (x_sigma, sigma), the combination commutes with
the preconditioning, which is why the convergence argument carries over to x0 prediction.

Identities the tests check: with beta = 1 and r = 1 the loss is the plain (supervised) x0 loss
on the candidates; with r = 1/2 (no advantage) it is ||D_old - x0||^2 / beta + beta ||D - D_old||^2
per element, whose gradient vanishes at D = D_old; as beta -> 0 the gradient tends to that of
2 * E[w (2r - 1) <D_old - x0, D>], a signed reward-weighted regression toward the candidates
linearised at the old policy (better-than-average candidates pull, worse ones push).
"""

from __future__ import annotations

import torch


def _per_candidate(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(dim=1)


def denoising_loss(d_theta: torch.Tensor, x0: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The plain EDM-weighted x0 loss E[w ||D - x0||^2]: what fine-tuning on chosen candidates
    minimises (the NFT loss with beta = 1 and r = 1, without its old-policy term)."""
    return (weight * _per_candidate((d_theta - x0) ** 2)).mean()


def nft_loss(d_theta: torch.Tensor, d_old: torch.Tensor, x0: torch.Tensor, r: torch.Tensor, beta: float,
             weight: torch.Tensor | None = None, weighting: str = "edm", d_ref: torch.Tensor | None = None,
             kl: float = 0.0) -> torch.Tensor:
    """Scalar loss. d_theta, d_old, x0: (N, ...) x0 predictions and targets; r (N,) in [0, 1];
    weight (N,) the EDM weight per candidate (required for ``weighting="edm"``)."""
    if not 0 < beta:
        raise ValueError(f"beta must be positive, got {beta}")
    if d_old.requires_grad:
        raise ValueError("d_old carries a gradient: the old policy must be evaluated under no_grad")
    plus = (1 - beta) * d_old + beta * d_theta
    minus = (1 + beta) * d_old - beta * d_theta
    err_plus, err_minus = _per_candidate((plus - x0) ** 2), _per_candidate((minus - x0) ** 2)
    if weighting == "edm":
        if weight is None:
            raise ValueError("weighting='edm' needs the per-candidate EDM weight")
        w_plus = w_minus = weight
    elif weighting == "adaptive":
        w_plus = 1 / _per_candidate((plus - x0).abs()).detach().clamp_min(1e-5)
        w_minus = 1 / _per_candidate((minus - x0).abs()).detach().clamp_min(1e-5)
    else:
        raise ValueError(f"weighting must be 'edm' or 'adaptive', got {weighting!r}")
    loss = (r * w_plus * err_plus + (1 - r) * w_minus * err_minus).mean() / beta
    if kl > 0:
        if d_ref is None:
            raise ValueError("kl > 0 needs the reference prediction d_ref")
        w = weight if weight is not None else torch.ones_like(r)
        loss = loss + kl * (w * _per_candidate((d_theta - d_ref) ** 2)).mean()
    return loss
