"""``CtrlWorld``: the five modules of the official state dict, and the per-chunk prediction.

State-dict prefixes are exactly the original's: ``unet.``, ``vae.``, ``image_encoder.``,
``text_encoder.``, ``action_encoder.``. The image encoder is held (the official checkpoint
carries it) but unused: Ctrl-World replaces SVD's CLIP image context by action tokens.
Views are encoded separately and stacked along the latent height (view 0 on top), so the UNet's
spatial attention sees all cameras at once; they are split again before decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch
from diffusers import AutoencoderKLTemporalDecoder
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig, CLIPVisionModelWithProjection

from baselines.ctrl_world.action_encoder import ActionEncoder
from baselines.ctrl_world.autoencoder import PatchPCAAutoencoder
from baselines.ctrl_world.config import CtrlWorldConfig, VAEConfig
from baselines.ctrl_world.sampler import sample
from baselines.ctrl_world.text import HashTokenizer
from baselines.ctrl_world.unet import FrameLevelUNet

SVD_DECODE_CHUNK = 7  # decode_chunk_size of the original; the temporal decoder sees these frames together


def build_vae(size: VAEConfig) -> nn.Module:
    if size.kind == "patch-pca":
        return PatchPCAAutoencoder(size.latent_channels, size.patch, size.whiten)
    return AutoencoderKLTemporalDecoder(
        down_block_types=("DownEncoderBlock2D",) * len(size.block_out_channels),
        block_out_channels=size.block_out_channels, layers_per_block=size.layers_per_block,
        latent_channels=size.latent_channels, sample_size=size.sample_size, scaling_factor=size.scaling_factor,
    )


class CtrlWorld(nn.Module):
    def __init__(self, config: CtrlWorldConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = FrameLevelUNet.from_size(config.unet)
        self.vae = build_vae(config.vae)
        self.image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**asdict(config.vision)))
        self.text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(**asdict(config.text)))
        self.action_encoder = ActionEncoder(config.action_dim, config.action_hidden)
        for frozen in (self.vae, self.image_encoder, self.text_encoder):
            frozen.requires_grad_(False)
        self.tokenize: Callable[[list[str]], dict[str, torch.Tensor]] | None = (
            HashTokenizer(config.text) if config.tokenizer == "hash" else None)

    # -- conditioning ------------------------------------------------------------------------
    @property
    def scaling_factor(self) -> float:
        if isinstance(self.vae, PatchPCAAutoencoder):
            return float(self.vae.scaling_factor)
        return float(self.vae.config.scaling_factor)

    def time_ids(self, bsz: int, noise_aug: float, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """SVD's added_time_ids: (fps, motion_bucket_id, noise_aug_strength) per sample."""
        row = torch.tensor([[self.config.fps, self.config.motion_bucket_id, noise_aug]], dtype=dtype, device=device)
        return row.expand(bsz, -1)

    @torch.no_grad()
    def text_embeds(self, instructions: list[str]) -> torch.Tensor:
        if self.tokenize is None:
            raise RuntimeError("no tokenizer attached (the official variant loads CLIP's from the Hub)")
        dev = self.text_encoder.text_projection.weight.device
        inputs = {k: v.to(dev) for k, v in self.tokenize(instructions).items()}
        return self.text_encoder(**inputs).text_embeds

    # -- pixels <-> stacked latents -------------------------------------------------------------
    @torch.no_grad()
    def encode_views(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, V, 3, H, W) in [-1, 1] -> (N, C, V*h, w) scaled latents, views stacked on height."""
        n, v = pixels.shape[:2]
        flat = pixels.flatten(0, 1).to(self.vae_dtype)
        if isinstance(self.vae, PatchPCAAutoencoder):
            codes = self.vae.encode(flat)
        else:
            codes = self.vae.encode(flat).latent_dist.sample(generator)
        codes = codes * self.scaling_factor
        codes = codes.reshape(n, v, *codes.shape[1:])  # (N, V, C, h, w)
        return torch.cat(list(codes.unbind(1)), dim=2)

    @torch.no_grad()
    def decode_views(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, V*h, w) scaled -> (N, V, 3, H, W) in [-1, 1] (unclamped)."""
        n = latents.shape[0]
        v = self.config.num_views
        views = torch.stack(latents.chunk(v, dim=2), dim=0)  # (V, N, C, h, w)
        flat = views.flatten(0, 1).to(self.vae_dtype) / self.scaling_factor
        if isinstance(self.vae, PatchPCAAutoencoder):
            pix = self.vae.decode(flat)
        else:  # the original decodes the (view, frame)-flattened sequence in chunks of 7
            pix = torch.cat([self.vae.decode(c, num_frames=len(c)).sample for c in flat.split(SVD_DECODE_CHUNK)])
        return pix.reshape(v, n, *pix.shape[1:]).transpose(0, 1)

    @property
    def vae_dtype(self) -> torch.dtype:
        tensors = self.vae.buffers() if isinstance(self.vae, PatchPCAAutoencoder) else self.vae.parameters()
        return next(iter(tensors)).dtype

    # -- one chunk ------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_chunk(self, current: torch.Tensor, history: torch.Tensor, poses: torch.Tensor,
                      text_embeds: torch.Tensor | None, generator: torch.Generator,
                      num_steps: int | None = None) -> torch.Tensor:
        """current (B, C, h, w) and history (B, H, C, h, w) scaled latents; poses (B, H+F, 7)
        normalised. Returns the chunk's (B, F, C, h, w) scaled latents (frame 0 = current)."""
        cfg = self.config
        dt = self.unet.conv_in.weight.dtype
        tokens = self.action_encoder(poses.to(dt), None if text_embeds is None else text_embeds.to(dt))
        bsz = current.shape[0]
        guided = cfg.max_guidance > 1.0
        time_ids = self.time_ids(bsz * (2 if guided else 1), cfg.noise_aug_infer, dt, current.device)

        def network(x: torch.Tensor, c_noise: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
            return self.unet(x.to(dt), c_noise, ctx, time_ids, frame_level_cond=True)

        return sample(network, current=(current / self.scaling_factor).to(dt), history=history.to(dt),
                      tokens=tokens, num_frames=cfg.num_frames, num_steps=num_steps or cfg.num_steps,
                      sigma_min=cfg.sigma_min, sigma_max=cfg.sigma_max, rho=cfg.rho,
                      min_guidance=cfg.min_guidance, max_guidance=cfg.max_guidance, generator=generator)
