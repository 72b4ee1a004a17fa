"""A perceptual term for a denoiser's x0 estimate: LPIPS on the decoded frames.

Why: a small model that samples in one step from sigma 80 returns the x0 estimate, the
conditional mean of the chunk under the squared loss. The mean wins on PSNR and loses on LPIPS
and SSIM, which punish its blur (docs/baselines/ctrl-world.md). Adding LPIPS between the decoded
estimate and the decoded recorded frames, as deterministic video predictors have done since
perceptual losses were introduced, asks the same network for edges the mean averages away.

What it is: the harness's own LPIPS network (:func:`pwbench.metrics.lpips.build_lpips_model`,
AlexNet with the v0.1 heads, frozen) through the ``lpips`` package's differentiable forward, on
every view of every predicted chunk frame, clamped to [-1, 1] as a saved frame would be. It is the
evaluation's metric, so LPIPS gains of a model trained with it are partly by construction: judge
such a model by SSIM, PSNR, the masked regions, motion (``pwbench motion``) and the action gap as
well. A VGG16 LPIPS would be a different network from the scored one, but its forward and
backward cost 3.5 s per 16 frames on one thread of the 2-core machine, ~20x AlexNet's.

Gradients flow through the fixed decoder into the estimate; the LPIPS network never trains.

``frames`` (``--perceptual-frames``) scores N of each window's predicted frames, drawn at random
from the training generator: an unbiased estimate of the all-frames mean for N/F of its work. It
exists for fairness and wall clock between families: IRASim predicts 15 frames per window where
Ctrl-World and WPE predict 4, so the same weight cost it ~4x the LPIPS work per window (its steps
took ~10 s on the 2-core EPYC against Ctrl-World's ~4.5 s).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pwbench.diffusion.estimate import X0Estimate

Decode = Callable[[torch.Tensor], torch.Tensor]  # (N, C, V*h, w) scaled latents -> (N, V, 3, H, W) in [-1, 1]


class PerceptualLoss:
    """Mean LPIPS between ``decode(pred)`` and ``decode(target)``, differentiable in ``pred``.

    ``decode`` must carry gradients (e.g. :meth:`pwbench.diffusion.codec.MultiViewCodec.decode_views_with_grad`).
    ``network``: an ``lpips.LPIPS``-like module called as ``network(a, b) -> (N, 1, 1, 1)``; the
    harness's LPIPS when None (the real AlexNet backbone, found offline).
    """

    def __init__(self, decode: Decode, weight: float, device: str = "cpu",
                 network: torch.nn.Module | None = None, frames: int | None = None) -> None:
        if weight <= 0:
            raise ValueError(f"a perceptual loss needs a positive weight, got {weight}")
        if frames is not None and frames < 1:
            raise ValueError(f"the perceptual term needs at least 1 frame per window, got {frames}")
        if network is None:
            from pwbench.metrics.lpips import build_lpips_model

            network, _ = build_lpips_model(device)
        self.decode = decode
        self.weight = weight
        self.frames = frames
        self.network = network.eval().requires_grad_(False)
        self.last_parts: dict[str, float] = {}

    def __call__(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred`` and ``target``: (B, F, C, V*h, w) scaled latents of the same frames."""
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        a = self._pixels(pred)
        with torch.no_grad():
            b = self._pixels(target)
        return self.network(a, b).mean()

    def with_x0_loss(self, estimate: X0Estimate, sigma_data: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """The estimate's x0 loss plus ``weight`` x this term on its output frames (``frames`` of
        them per window when set, drawn from ``generator``); both parts are kept for
        :meth:`after_step`."""
        x0_loss = estimate.x0_loss(sigma_data)
        lpips = self(*self.subset(*estimate.predicted_frames(), generator))
        self.last_parts = {"x0_loss": x0_loss.item(), "lpips": lpips.item()}
        return x0_loss + self.weight * lpips

    def subset(self, pred: torch.Tensor, target: torch.Tensor,
               generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames`` of the F frames of each (B, F, ...) window, the same ones in ``pred`` and
        ``target``, drawn without replacement from ``generator``; all of them when ``frames`` is
        unset or not below F (no draw, so runs without the option keep their random stream)."""
        b, f = pred.shape[:2]
        if self.frames is None or self.frames >= f:
            return pred, target
        if generator is None:
            raise ValueError("drawing the perceptual term's frames needs the training generator")
        order = torch.rand(b, f, generator=generator, device=generator.device).argsort(dim=1)
        rows = torch.arange(b, device=pred.device)[:, None]
        pick = order[:, :self.frames].to(pred.device)
        return pred[rows, pick], target[rows, pick]

    def after_step(self, step: int) -> dict[str, float]:
        """The last loss's two parts: :func:`pwbench.train.small.finish` passes this to the loop as an
        ``after_step`` hook, which appends them to ``metrics.jsonl``."""
        return dict(self.last_parts)

    def _pixels(self, latents: torch.Tensor) -> torch.Tensor:
        frames = self.decode(latents.flatten(0, 1))  # (B*F, V, 3, H, W)
        return frames.flatten(0, 1).clamp(-1.0, 1.0)


def perceptual_for(decode: Decode, weight: float, device: str = "cpu",
                   frames: int | None = None) -> PerceptualLoss | None:
    """The term a run's ``--perceptual-weight`` (and ``--perceptual-frames``) ask for, or None
    when the weight is 0."""
    return PerceptualLoss(decode, weight, device, frames=frames) if weight else None


def estimate_loss(estimate: X0Estimate, sigma_data: float, perceptual: PerceptualLoss | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """What a family's train task optimises: the x0 loss, plus the perceptual term when there is
    one (its frames, when it subsamples them, drawn from ``generator``)."""
    if perceptual is None:
        return estimate.x0_loss(sigma_data)
    return perceptual.with_x0_loss(estimate, sigma_data, generator)
