"""Latent codecs: pixels <-> latents for a diffusion world model, one view or several.

A :class:`LatentCodec` encodes (N, 3, H, W) frames in [-1, 1] to *raw* codes (N, C, H/f, W/f) and
decodes them back. Two implementations:

* :class:`SVDVAECodec` wraps diffusers' ``AutoencoderKLTemporalDecoder`` (SVD's VAE; the
  official Ctrl-World) — a wrapper, not a submodule, so the model's state-dict names stay
  ``vae.*`` exactly as in the published checkpoint;
* :class:`PatchPCAAutoencoder`, a fixed linear code over f x f RGB patches fitted in closed form
  (small CPU models: deterministic, instant, LPIPS 0.003 at 8x8 / 48 components on droid-sim,
  where a VAE trained from scratch within a CPU budget blurs every frame).

Scaling follows SVD: ``latent = raw * scaling_factor``, and condition images enter the network
as raw codes (``latent / scaling_factor``). :class:`MultiViewCodec` encodes each camera
separately and stacks the codes along the latent height (view 0 on top), so one 2-D network sees
all cameras at once.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SVD_DECODE_CHUNK = 7  # decode_chunk_size of the SVD pipeline: the temporal decoder sees these together


def signed_pixels(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` frames -> float32 ``(..., 3, H, W)`` in [-1, 1], the range every
    codec here encodes (``x / 127.5 - 1``)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).movedim(-1, -3).float() / 127.5 - 1.0


def view_frames(pixels: torch.Tensor, views: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Decoded ``(N, V, 3, H, W)`` pixels in [-1, 1] -> ``{view: uint8 (N, H, W, 3)}``: clamped,
    rounded to the nearest level, one array per view (what a model's step returns)."""
    out = ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 0, 3, 4, 2).cpu().numpy()
    if len(out) != len(views):
        raise ValueError(f"{len(out)} decoded views for {len(views)} names")
    return {v: out[i] for i, v in enumerate(views)}


class LatentCodec(Protocol):
    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...

    @property
    def scaling_factor(self) -> float: ...

    @property
    def dtype(self) -> torch.dtype: ...


class PatchPCAAutoencoder(nn.Module):
    """encode: (N, 3, H, W) in [-1, 1] -> (N, k, H/p, W/p); decode: the inverse on the subspace.

    ``whiten=True`` divides each component by its std (every component weighs the same in a
    latent loss); ``whiten=False`` keeps the basis orthonormal, so a squared latent error *is*
    the squared pixel error of the kept subspace — what a loss that weighs what the pixels weigh
    needs (the small residual recipe)."""

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

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Raw (unscaled) codes, like ``vae.encode(x).latent_dist.mode()`` (deterministic)."""
        patches = F.pixel_unshuffle(pixels, self.patch) - self.mean[None, :, None, None].to(pixels.dtype)
        codes = torch.einsum("kd,ndhw->nkhw", self.basis.to(pixels.dtype), patches)
        return codes / self.std[None, :, None, None].to(pixels.dtype)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes * self.std[None, :, None, None].to(codes.dtype)
        patches = torch.einsum("kd,nkhw->ndhw", self.basis.to(codes.dtype), codes)
        return F.pixel_shuffle(patches + self.mean[None, :, None, None].to(codes.dtype), self.patch)

    @property
    def dtype(self) -> torch.dtype:
        return self.basis.dtype

    @torch.no_grad()
    def fit(self, frames: np.ndarray, max_frames: int = 1500, seed: int = 0) -> float:
        """Fit mean, basis and a unit-variance scaling factor on uint8 frames (N, H, W, 3);
        returns the fraction of patch variance kept. Float64 covariance + ``eigh``: deterministic."""
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


class PatchPCACodec:
    """:class:`LatentCodec` view of a :class:`PatchPCAAutoencoder` module."""

    def __init__(self, module: PatchPCAAutoencoder) -> None:
        self.module = module

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.module.encode(pixels)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.module.decode(codes)

    @property
    def scaling_factor(self) -> float:
        return float(self.module.scaling_factor)

    @property
    def dtype(self) -> torch.dtype:
        return self.module.dtype


class SVDVAECodec:
    """:class:`LatentCodec` over diffusers' ``AutoencoderKLTemporalDecoder``.

    Encoding samples the latent distribution with the caller's generator (a seed fixes it);
    decoding runs the temporal decoder over consecutive runs of ``SVD_DECODE_CHUNK`` frames of
    the flattened sequence, as the SVD pipeline (and Ctrl-World's script) does."""

    def __init__(self, vae: nn.Module) -> None:
        self.vae = vae

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.vae.encode(pixels.to(self.dtype)).latent_dist.sample(generator)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = codes.to(self.dtype)
        return torch.cat([self.vae.decode(c, num_frames=len(c)).sample for c in codes.split(SVD_DECODE_CHUNK)])

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype


def codec_for(module: nn.Module) -> LatentCodec:
    """The codec interface of an autoencoder module (patch-PCA or SVD's VAE)."""
    return PatchPCACodec(module) if isinstance(module, PatchPCAAutoencoder) else SVDVAECodec(module)


class MultiViewCodec:
    """Encode each view separately, stack the scaled codes along the latent height."""

    def __init__(self, codec: LatentCodec, num_views: int) -> None:
        self.codec = codec
        self.num_views = num_views

    @property
    def scaling_factor(self) -> float:
        return self.codec.scaling_factor

    @torch.no_grad()
    def encode_views(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, V, 3, H, W) in [-1, 1] -> (N, C, V*h, w) scaled latents, views stacked on height."""
        n, v = pixels.shape[:2]
        if v != self.num_views:
            raise ValueError(f"expected {self.num_views} views, got {v}")
        codes = self.codec.encode(pixels.flatten(0, 1).to(self.codec.dtype), generator) * self.scaling_factor
        codes = codes.reshape(n, v, *codes.shape[1:])  # (N, V, C, h, w)
        return torch.cat(list(codes.unbind(1)), dim=2)

    @torch.no_grad()
    def decode_views(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, V*h, w) scaled -> (N, V, 3, H, W) in [-1, 1] (unclamped). Frames are decoded
        view-major (all of view 0, then view 1, ...), the order a temporal decoder expects."""
        return self.decode_views_with_grad(latents)

    def decode_views_with_grad(self, latents: torch.Tensor) -> torch.Tensor:
        """:meth:`decode_views` with autograd on, for a loss on decoded pixels (a perceptual
        loss trains the denoiser through the fixed codec; :mod:`pwbench.train.perceptual`)."""
        n, v = latents.shape[0], self.num_views
        views = torch.stack(latents.chunk(v, dim=2), dim=0)  # (V, N, C, h, w)
        pix = self.codec.decode(views.flatten(0, 1).to(self.codec.dtype) / self.scaling_factor)
        return pix.reshape(v, n, *pix.shape[1:]).transpose(0, 1)
