"""A denoiser's x0 estimate of one noised training batch, and what it should have been.

Every small family's loss is the EDM-weighted squared error of such an estimate; a perceptual
term (:mod:`pwbench.train.perceptual`) also needs the estimated *frames* — absolute latents of the
slots a rollout outputs — so the families hand their loss over in this one shape, whether they
draw one sigma per window or, with diffusion forcing, one per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pwbench.diffusion.edm import loss_weight
from pwbench.diffusion.residual import from_residual


@dataclass
class X0Estimate:
    """One batch's estimate. Two shapes of training fit it:

    * one sigma per window (Ctrl-World, IRASim): ``sigma`` (B, 1, 1, 1, 1), every slot is in the
      loss, and the slots from ``first_output`` on are what a rollout outputs;
    * diffusion forcing (WPE): ``sigma`` (B, F, 1, 1, 1), one per frame, and ``predicted`` (B, F)
      marks each window's frames after its reference: only they are in the loss and output.
    """

    x0: torch.Tensor  # (B, F, C, h, w): residuals from ``current`` when ``residual``
    target: torch.Tensor  # the same slots of the recorded window, in the same parameterisation
    sigma: torch.Tensor  # (B, 1, 1, 1, 1) one per window, or (B, F, 1, 1, 1) one per frame
    current: torch.Tensor  # (B, C, h, w) the clean current (condition) latent
    residual: bool
    first_output: int = 0  # slots before it are not output by a rollout (e.g. the current frame itself)
    predicted: torch.Tensor | None = None  # (B, F) bool: per window, the slots in the loss and output

    def __post_init__(self) -> None:
        if self.predicted is not None and self.first_output:
            raise ValueError("an estimate marks its output slots by first_output or by predicted, not both")

    def x0_loss(self, sigma_data: float) -> torch.Tensor:
        """The EDM-weighted squared error (the recipe's loss), over the ``predicted`` slots when marked."""
        if self.predicted is None:
            return ((self.x0 - self.target) ** 2 * loss_weight(self.sigma, sigma_data)).mean()
        err = ((self.x0 - self.target) ** 2).mean(dim=tuple(range(2, self.x0.dim())))  # (B, F)
        weight = loss_weight(self.sigma.reshape(err.shape), sigma_data) * self.predicted
        return (err * weight).sum() / self.predicted.sum()

    def predicted_frames(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimated and recorded latents of the slots a rollout outputs, as absolute latents:
        (B, F - first_output, C, h, w), or (N, 1, C, h, w) for the N ``predicted`` slots."""
        if self.predicted is None:
            x0, target = self.x0[:, self.first_output:], self.target[:, self.first_output:]
            current = self.current
        else:
            x0, target = self.x0[self.predicted][:, None], self.target[self.predicted][:, None]
            current = self.current[:, None].expand_as(self.x0)[self.predicted]
        if self.residual:
            x0, target = from_residual(x0, current), from_residual(target, current)
        return x0, target
