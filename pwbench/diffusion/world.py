"""``PatchPCAWorld``: a small world model's network beside the shared patch-PCA code.

The small IRASim and WPE (and any later family on the shared residual recipe) are the same
container: a ``net`` that denoises residual latents, a ``vae`` (:class:`PatchPCAAutoencoder`, no
whitening, its fitted latent scale a buffer) and the :class:`MultiViewCodec` that codes each view
with it and stacks the codes on height. The module names are part of the shipped weights' keys
(``net.*``, ``vae.*``); the codec is a view of ``vae`` with no weights of its own. A family
subclasses it with its sampler and x0 estimate; its config names ``latent_channels``, ``patch``
and ``num_views``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pwbench.diffusion.codec import MultiViewCodec, PatchPCAAutoencoder, codec_for


class PatchPCAWorld(nn.Module):
    """``net`` (built by the family, before the code) and ``vae`` (the patch-PCA code, with its latent scale)."""

    def __init__(self, config: Any, net: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.net = net
        self.vae = PatchPCAAutoencoder(config.latent_channels, config.patch, whiten=False)
        self.codec = MultiViewCodec(codec_for(self.vae), config.num_views)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.scaling_factor)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def encode_views(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.codec.encode_views(pixels, generator)

    def decode_views(self, latents: torch.Tensor) -> torch.Tensor:
        return self.codec.decode_views(latents)
