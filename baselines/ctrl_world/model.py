"""``CtrlWorld``: the five modules of the official state dict, and the per-chunk prediction.

State-dict prefixes are exactly the original's: ``unet.``, ``vae.``, ``image_encoder.``,
``text_encoder.``, ``action_encoder.``. The image encoder is held (the official checkpoint
carries it) but unused: Ctrl-World replaces SVD's CLIP image context by action tokens. Views go
through :class:`pwbench.diffusion.codec.MultiViewCodec` (encoded separately, stacked along the
latent height, view 0 on top), so the UNet's spatial attention sees all cameras at once.

One network input builder (:meth:`CtrlWorld.unet_input`) serves training and sampling: clean (or
lightly noised) history slots, then the c_in-scaled noisy chunk slots, with the current frame's
raw code concatenated on channels to every slot. With ``config.residual`` the chunk and history
slots hold the change from the current frame (:mod:`pwbench.diffusion.residual`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from diffusers import AutoencoderKLTemporalDecoder
from torch import nn
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig, CLIPVisionModelWithProjection

from baselines.ctrl_world.action_encoder import ActionEncoder
from baselines.ctrl_world.config import CtrlWorldConfig, VAEConfig
from baselines.ctrl_world.text import HashTokenizer
from baselines.ctrl_world.unet import FrameLevelUNet
from pwbench.diffusion.codec import MultiViewCodec, PatchPCAAutoencoder, codec_for
from pwbench.diffusion.edm import initial_noise_scale, precondition
from pwbench.diffusion.pose_map import PoseMap
from pwbench.diffusion.residual import from_residual, to_residual, zero_init_
from pwbench.diffusion.sampler import Denoiser, Trajectory, euler_sample, randn_per_row


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
        self.pose_map = (PoseMap(config.action_dim, config.pose_map_hidden, config.pose_map_channels,
                                 config.latent_hw, config.unet.block_out_channels[0])
                         if config.pose_map_channels else None)
        for frozen in (self.vae, self.image_encoder, self.text_encoder):
            frozen.requires_grad_(False)
        if config.zero_init_output:
            zero_init_(self.unet.conv_out)
        self.codec = MultiViewCodec(codec_for(self.vae), config.num_views)  # a view of self.vae, no weights
        self.tokenize: Callable[[list[str]], dict[str, torch.Tensor]] | None = (
            HashTokenizer(config.text) if config.tokenizer == "hash" else None)

    # -- conditioning ------------------------------------------------------------------------
    @property
    def scaling_factor(self) -> float:
        return self.codec.scaling_factor

    def time_ids(self, bsz: int, noise_aug: float | torch.Tensor, dtype: torch.dtype,
                 device: torch.device | str) -> torch.Tensor:
        """SVD's added_time_ids: (fps, motion_bucket_id, noise_aug_strength) per sample."""
        aug = torch.as_tensor(noise_aug, dtype=dtype, device=device).reshape(-1).expand(bsz)
        fixed = torch.tensor([self.config.fps, self.config.motion_bucket_id], dtype=dtype, device=device)
        return torch.cat([fixed.expand(bsz, -1), aug[:, None]], dim=1)

    @torch.no_grad()
    def text_embeds(self, instructions: list[str]) -> torch.Tensor:
        if self.tokenize is None:
            raise RuntimeError("no tokenizer attached (the official variant loads CLIP's from the Hub)")
        dev = self.text_encoder.text_projection.weight.device
        inputs = {k: v.to(dev) for k, v in self.tokenize(instructions).items()}
        return self.text_encoder(**inputs).text_embeds

    def conditioning(self, pose_features: torch.Tensor,
                     text_embeds: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoded poses (B, F, action_dim) -> the UNet's action inputs: per-frame cross-attention
        tokens (B, F, D) and, with a pose map, the (B*F, C0, h, w) offset after ``conv_in``."""
        tokens = self.action_encoder(pose_features, text_embeds)
        return tokens, None if self.pose_map is None else self.pose_map(pose_features)

    # -- pixels <-> stacked latents -------------------------------------------------------------
    def encode_views(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, V, 3, H, W) in [-1, 1] -> (N, C, V*h, w) scaled latents, views stacked on height."""
        return self.codec.encode_views(pixels, generator)

    def decode_views(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C, V*h, w) scaled -> (N, V, 3, H, W) in [-1, 1] (unclamped)."""
        return self.codec.decode_views(latents)

    # -- the network ------------------------------------------------------------------------------
    def unet_input(self, history: torch.Tensor, history_sigma: torch.Tensor | float, noisy: torch.Tensor,
                   sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """history (B, H, C, h, w) and noisy chunk (B, F, C, h, w) in diffusion space (residuals
        when ``config.residual``), their noise levels, cond (B, C, h, w) the raw condition code.
        Each slot is scaled by its c_in; cond is concatenated on channels to every slot."""
        sd = self.config.sigma_data
        h_in = history * precondition(torch.as_tensor(history_sigma, device=history.device), sd).c_in
        x_in = torch.cat([h_in, noisy * precondition(sigma, sd).c_in], dim=1)
        return torch.cat([x_in, cond[:, None].expand(-1, x_in.shape[1], -1, -1, -1)], dim=2)

    def unet_dtype(self) -> torch.dtype:
        return self.unet.conv_in.weight.dtype

    # -- one chunk ------------------------------------------------------------------------------
    @torch.no_grad()
    def chunk_condition(self, current: torch.Tensor, history: torch.Tensor, pose_features: torch.Tensor,
                        text_embeds: torch.Tensor | None, generator: torch.Generator | list[torch.Generator],
                        cond_noise: float | None = None) -> ChunkCondition:
        """Everything a chunk's denoiser is conditioned on, with the condition frame's noise drawn.

        current (B, C, h, w) and history (B, H, C, h, w) scaled latents; pose_features
        (B, H+F, action_dim). ``cond_noise`` (default ``config.noise_aug_infer``) is the condition
        frame's noise level: told to the UNet as SVD's noise_aug id, and with
        ``config.cond_noise_time_id`` also added to the condition, as in training."""
        cfg = self.config
        aug = cfg.noise_aug_infer if cond_noise is None else float(cond_noise)
        cond = current.float()
        if cfg.cond_noise_time_id and aug > 0:
            noise = randn_per_row(cond.shape, generator, current.device)
            cond = (cond + aug * noise) / (aug**2 + 1) ** 0.5
        hist = to_residual(history.float(), current.float()) if cfg.residual else history.float()
        return ChunkCondition(cond=cond / self.scaling_factor, history=hist, pose_features=pose_features,
                              text_embeds=text_embeds, cond_noise=aug)

    def denoiser(self, c: ChunkCondition, guidance: bool = True) -> Denoiser:
        """D(x, sigma) -> x0 for the chunk slots (diffusion space), conditioned on ``c``; sigma a
        scalar or one per row. The action tokens are encoded once, with gradient when enabled (RL
        post-training trains the action encoder through this). ``guidance=False`` gives the
        conditional prediction even when the config samples with CFG."""
        cfg = self.config
        dt = self.unet_dtype()
        dev = c.cond.device
        tokens, offset = self.conditioning(c.pose_features.to(dt),
                                           None if c.text_embeds is None else c.text_embeds.to(dt))
        hist, cond = c.history, c.cond
        guided = guidance and cfg.max_guidance > 1.0
        if guided:  # the unconditional branch first, fed all-zero tokens
            tokens = torch.cat([torch.zeros_like(tokens), tokens])
            offset = None if offset is None else torch.cat([torch.zeros_like(offset), offset])
            hist, cond = torch.cat([hist, hist]), torch.cat([cond, cond])
        scale = torch.linspace(cfg.min_guidance, cfg.max_guidance, cfg.num_frames, device=dev)
        scale = scale[None, :, None, None, None]  # per chunk frame
        time_ids = self.time_ids(tokens.shape[0], c.cond_noise, dt, dev)
        nh = hist.shape[1]

        def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            sigma = sigma.reshape(-1, 1, 1, 1, 1) if sigma.numel() > 1 else sigma.reshape(())
            p = precondition(sigma, cfg.sigma_data)
            xx = torch.cat([x, x]) if guided else x
            s_in = torch.cat([sigma, sigma]) if guided and sigma.ndim else sigma  # per row of xx, or one
            c_noise = precondition(s_in, cfg.sigma_data).c_noise.reshape(-1).expand(xx.shape[0])
            inp = self.unet_input(hist, 0.0, xx, s_in, cond).to(dt)
            out = self.unet(inp, c_noise.to(dt), tokens, time_ids, frame_level_cond=True,
                            input_offset=offset)[:, nh:].float()
            if guided:
                uncond, condl = out.chunk(2)
                out = uncond + scale * (condl - uncond)
            return p.c_skip * x + p.c_out * out

        return denoise

    @torch.no_grad()
    def chunk_trajectory(self, current: torch.Tensor, history: torch.Tensor, pose_features: torch.Tensor,
                         text_embeds: torch.Tensor | None, generator: torch.Generator | list[torch.Generator],
                         num_steps: int | None = None, cond_noise: float | None = None,
                         condition: ChunkCondition | None = None) -> Trajectory:
        """Sample one chunk; the trajectory is in diffusion space (residuals when residual).

        Arguments as :meth:`chunk_condition` (or a ready ``condition``). ``generator``: one for
        the batch, or one per row (each row's noise then depends only on its own generator, as
        if it were sampled alone)."""
        cfg = self.config
        c = condition if condition is not None else \
            self.chunk_condition(current, history, pose_features, text_embeds, generator, cond_noise)
        bsz, chans, h, w = current.shape
        schedule = cfg.schedule(num_steps)
        x = randn_per_row((bsz, cfg.num_frames, chans, h, w), generator, current.device)
        x = x * initial_noise_scale(schedule.sigma_max, cfg.sigma_data)
        return euler_sample(self.denoiser(c), x, schedule.sigmas())

    @torch.no_grad()
    def predict_chunk(self, current: torch.Tensor, history: torch.Tensor, pose_features: torch.Tensor,
                      text_embeds: torch.Tensor | None, generator: torch.Generator | list[torch.Generator],
                      num_steps: int | None = None, cond_noise: float | None = None) -> torch.Tensor:
        """The chunk's (B, F, C, h, w) scaled latents (frame 0 re-predicts the current frame)."""
        traj = self.chunk_trajectory(current, history, pose_features, text_embeds, generator, num_steps, cond_noise)
        out = from_residual(traj.sample, current.float()) if self.config.residual else traj.sample
        return out.to(self.unet_dtype())


@dataclass
class ChunkCondition:
    """What one chunk is sampled from, batched over rows: the condition code as the UNet sees it
    (noised, divided by the latent scale), history slots in diffusion space, encoded poses, text
    embeddings, and the condition noise level (SVD's noise_aug id)."""

    cond: torch.Tensor  # (B, C, h, w)
    history: torch.Tensor  # (B, H, C, h, w)
    pose_features: torch.Tensor  # (B, H+F, action_dim)
    text_embeds: torch.Tensor | None  # (B, P)
    cond_noise: float

    def rows(self, index: torch.Tensor) -> ChunkCondition:
        return ChunkCondition(self.cond[index], self.history[index], self.pose_features[index],
                              None if self.text_embeds is None else self.text_embeds[index], self.cond_noise)

