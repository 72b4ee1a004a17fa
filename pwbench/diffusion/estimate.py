"""A denoiser's x0 estimate of one noised training batch, and what it should have been.

Every small family's loss is the EDM-weighted squared error of such an estimate; a perceptual
term (:mod:`pwbench.train.perceptual`) also needs the estimated *frames* — absolute latents of the
slots a rollout outputs — so the families hand their loss over in this one shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pwbench.diffusion.edm import loss_weight
from pwbench.diffusion.residual import from_residual


@dataclass
class X0Estimate:
    x0: torch.Tensor  # (B, F, C, h, w): residuals from ``current`` when ``residual``
    target: torch.Tensor  # the same slots of the recorded window, in the same parameterisation
    sigma: torch.Tensor  # (B, 1, 1, 1, 1), one sigma per window
    current: torch.Tensor  # (B, C, h, w) the clean current (condition) latent
    residual: bool
    first_output: int = 0  # slots before it are not output by a rollout (e.g. the current frame itself)

    def x0_loss(self, sigma_data: float) -> torch.Tensor:
        """The EDM-weighted squared error (the recipe's loss)."""
        return ((self.x0 - self.target) ** 2 * loss_weight(self.sigma, sigma_data)).mean()

    def predicted_frames(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimated and recorded latents of the slots a rollout outputs, as absolute latents."""
        x0, target = self.x0[:, self.first_output:], self.target[:, self.first_output:]
        if self.residual:
            x0, target = from_residual(x0, self.current), from_residual(target, self.current)
        return x0, target
