"""The small variant's fixed autoencoder: a linear patch-PCA code (no gradient training).

Why not a small ``AutoencoderKLTemporalDecoder``: at 96x160 per view a VAE trained from scratch
in the CPU budget blurs every frame, and blur over the static background costs more LPIPS than a
world model can win back on the moving arm. A PCA over 8x8 RGB patches (SVD's 8x down-sampling),
fitted once in closed form on training frames, keeps the most variance any linear code of its size
can; it is deterministic, instant, and exactly invertible on its subspace. At 48 of 192 components
it reconstructs droid-sim frames at LPIPS 0.003 and 39.8 dB PSNR (a 16x16, 32-component code,
this model's first choice, scored LPIPS 0.19: no world model behind it could beat copy-last).

Each component is whitened (divided by its std; ``whiten=True`` in the small config) and one
global ``scaling_factor`` brings the codes to unit variance (the EDM preconditioning assumes
sigma_data = 1), used the way the SVD VAE's 0.18215 is (condition latents are divided by it).
Why whiten: with orthonormal codes most components have a tiny variance, and the c_skip * x term
of the denoiser leaks sampling noise into them at a level the loss hardly sees (0.064 at sigma
15.6, larger than their signal); an orthonormal run sampled frames covered in pixel noise (LPIPS
0.77 on train rollouts after 640 steps). The cost of whitening: droid-sim's low-variance
components are mostly codec noise and sub-pixel flicker, so even a perfect copy of the current
frame leaves a mean squared whitened error of 0.22-0.54 one frame (0.2 s) later in the exterior
views (within-episode variance 0.6-1.2), and that unpredictable part dominates the loss.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class PatchPCAAutoencoder(nn.Module):
    """encode: (N, 3, H, W) in [-1, 1] -> (N, k, H/p, W/p); decode: the inverse on the subspace."""

    def __init__(self, latent_channels: int, patch: int, whiten: bool = True) -> None:
        super().__init__()
        dim = 3 * patch * patch
        if latent_channels > dim:
            raise ValueError(f"cannot keep {latent_channels} components of {dim}-D patches")
        self.patch = patch
        self.latent_channels = latent_channels
        self.whiten = whiten
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("basis", torch.eye(dim)[:latent_channels].clone())  # (k, dim), orthonormal rows
        self.register_buffer("std", torch.ones(latent_channels))  # per-component divisor (std if whitened, else 1)
        self.register_buffer("scaling_factor", torch.ones(()))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Raw (unscaled) codes, like ``vae.encode(x).latent_dist.mode()``."""
        patches = F.pixel_unshuffle(pixels, self.patch) - self.mean[None, :, None, None]
        codes = torch.einsum("kd,ndhw->nkhw", self.basis.to(pixels.dtype), patches)
        return codes / self.std[None, :, None, None].to(pixels.dtype)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes * self.std[None, :, None, None].to(codes.dtype)
        patches = torch.einsum("kd,nkhw->ndhw", self.basis.to(codes.dtype), codes) + self.mean[None, :, None, None]
        return F.pixel_shuffle(patches, self.patch)

    @torch.no_grad()
    def fit(self, frames: np.ndarray, max_frames: int = 1500, seed: int = 0) -> float:
        """Fit mean, basis and scaling factor on uint8 frames (N, H, W, 3); returns the fraction
        of patch variance kept. Float64 covariance + ``eigh``: deterministic on one machine."""
        if len(frames) > max_frames:
            frames = frames[np.sort(np.random.default_rng(seed).choice(len(frames), max_frames, replace=False))]
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).double() / 127.5 - 1.0
        patches = F.pixel_unshuffle(x, self.patch).permute(0, 2, 3, 1).reshape(-1, 3 * self.patch**2)
        mean = patches.mean(0)
        centred = patches - mean
        cov = centred.T @ centred / len(centred)
        evals, evecs = torch.linalg.eigh(cov)
        order = torch.argsort(evals, descending=True)[: self.latent_channels]
        basis = evecs[:, order].T
        # fix each component's sign so the fit is reproducible across LAPACK builds
        signs = torch.sign(basis[torch.arange(len(basis)), basis.abs().argmax(1)])
        basis = basis * signs[:, None]
        codes = centred @ basis.T
        std = codes.std(0) if self.whiten else torch.ones(len(basis), dtype=codes.dtype)
        self.mean.copy_(mean.float())
        self.basis.copy_(basis.float())
        self.std.copy_(std.float())
        self.scaling_factor.fill_(float(1.0 / (codes / std).std()))
        return float(evals[order].sum() / evals.sum())
