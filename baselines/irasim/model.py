"""The IRASim network (arXiv 2406.14540): a Latte-style factorised video diffusion transformer with
frame-level action conditioning ("Frame-Ada").

Written for pwbench from the paper and a reading of bytedance/IRASim; module names and shapes
follow the released checkpoints (``checkpoint_keys/``), and a test compares the output with the
original code's on a small model with the same random weights. The structure:

* each frame's latent is cut into p×p patches (a strided conv), plus a fixed 2-D sin-cos table;
* 2·K transformer blocks alternate **spatial** (attention over one frame's tokens) and
  **temporal** (attention over the frames at one token position); a fixed 1-D sin-cos table over
  frames is added once, after the first spatial block;
* every block is DiT's adaLN-Zero (shift/scale/gate for attention and MLP from the condition);
  spatial blocks are conditioned on timestep + *that frame's* action embedding (Frame-Ada),
  temporal blocks on the timestep only; the conditioning frame 0 gets a learned mask embedding
  in place of an action, and so does every frame of a video dropped for classifier-free training;
* a final adaLN layer (timestep only, as the released checkpoints) maps tokens back to patches;
* pwbench's small recipe may add a pose map (:mod:`pwbench.diffusion.pose_map`): each predicted
  frame's action drawn as maps over the latent canvas and patchified onto that frame's tokens,
  zero-initialised — Frame-Ada's adaLN gives every token of a frame the same modulation, so the
  action has no spatial path of its own.

The output has the input's shape (B, F, C, H, W); the original reads it as an epsilon prediction
at DDPM timesteps, pwbench's small variant as an EDM network output (``timestep`` is whatever
scalar the caller's parameterisation feeds the sinusoidal embedding).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.irasim.config import IRASimConfig
from pwbench.diffusion.embeddings import timestep_features
from pwbench.diffusion.pose_map import PoseMap


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """(len(positions), dim): sines of the first half of the frequencies, then cosines."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = np.outer(positions.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid: tuple[int, int]) -> np.ndarray:
    """(gh·gw, dim) row-major tokens: the first half encodes the column, the second the row."""
    gh, gw = grid
    cols, rows = np.meshgrid(np.arange(gw, dtype=np.float64), np.arange(gh, dtype=np.float64))
    return np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, hidden: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, tokens, D)
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    """Sinusoidal features (cosines first) of a scalar timestep, then a 2-layer SiLU MLP."""

    def __init__(self, hidden: int, frequency_size: int = 256) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(nn.Linear(frequency_size, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        features = timestep_features(t, self.frequency_size)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class Mlp(nn.Module):
    def __init__(self, dim_in: int, hidden: int, dim_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim_in, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection ([q | k | v], heads major)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    """DiT adaLN-Zero block: the condition sets shift, scale and gate of attention and MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_a.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_a, scale_a))
        return x + gate_m.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_m, scale_m))


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch: int, out_channels: int) -> None:
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class IRASim(nn.Module):
    def __init__(self, config: IRASimConfig) -> None:
        super().__init__()
        self.config = config
        d, (gh, gw) = config.hidden_size, config.grid
        self.x_embedder = PatchEmbed(config.in_channels, d, config.patch_size)
        self.t_embedder = TimestepEmbedder(d, config.frequency_embedding_size)
        if config.action_embedder == "mlp":
            self.embed_state = Mlp(config.action_dim, 4 * d, d)
        else:  # Language-Table: two linear layers, no nonlinearity between them
            self.embed_arm_state = nn.Linear(config.action_dim, 4 * d)
            self.embed_state = nn.Linear(4 * d, d)
        self.mask_emb_fn = nn.Embedding(1, d)
        # fixed tables, stored as frozen parameters under the checkpoints' names (own parameters
        # come first in a state dict, as in the released files)
        self.pos_embed = nn.Parameter(torch.from_numpy(sincos_2d(d, (gh, gw))).float()[None], requires_grad=False)
        frames = np.arange(config.num_frames)
        self.temp_embed = nn.Parameter(torch.from_numpy(sincos_1d(d, frames)).float()[None], requires_grad=False)
        self.blocks = nn.ModuleList([Block(d, config.num_heads, config.mlp_ratio) for _ in range(config.depth)])
        self.final_layer = FinalLayer(d, config.patch_size, config.out_channels)
        if config.cond_noise_embed:
            self.cond_noise_embedder = TimestepEmbedder(d, config.frequency_embedding_size)
        self.initialize_weights()
        # after initialize_weights: the pose map keeps its own initialisation (a zero projection)
        self.pose_map = (PoseMap.onto_patches(config.action_dim, config.pose_map_hidden, config.pose_map_channels,
                                              config.input_size, d, config.patch_size)
                         if config.pose_map_channels else None)

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """The original's initialisation (it matters only when training from scratch): xavier
        linears and patch conv with zero bias, N(0, 0.02) timestep MLP, and zero for every adaLN
        output and the final linear — so each block starts as the identity and the network's
        output is exactly 0 (with a residual parameterisation: copy-last). The condition-noise
        embedder (pwbench's addition) ends at zero too, so it changes nothing until trained."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        embedders = [self.t_embedder] + ([self.cond_noise_embedder] if self.config.cond_noise_embed else [])
        for emb in embedders:
            nn.init.normal_(emb.mlp[0].weight, std=0.02)
            nn.init.normal_(emb.mlp[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        if self.config.cond_noise_embed:
            nn.init.zeros_(self.cond_noise_embedder.mlp[2].weight)

    def action_embedding(self, actions: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """(B, F-1, A) actions -> (B, F, D): the mask embedding for frame 0 (and for every frame of
        the videos ``drop`` marks: classifier-free training), action f-1 for frame f."""
        if self.config.action_embedder == "mlp":
            e = self.embed_state(actions)
        else:
            e = self.embed_state(self.embed_arm_state(actions))
        mask = self.mask_emb_fn.weight[0].expand(e.shape[0], 1, -1)
        e = torch.cat([mask, e], dim=1)
        if drop is not None:
            e = torch.where(drop[:, None, None], self.mask_emb_fn.weight[0], e)
        return e

    def pose_tokens(self, actions: torch.Tensor, drop: torch.Tensor | None) -> torch.Tensor:
        """(B, F-1, A) actions -> (B, F, tokens, D) pose-map offsets; zero for the condition frame
        and for the videos ``drop`` marks (they see no action, as in :meth:`action_embedding`)."""
        b = actions.shape[0]
        maps = self.pose_map(actions)  # (B*(F-1), D, gh, gw)
        maps = maps.flatten(2).transpose(1, 2).reshape(b, actions.shape[1], -1, maps.shape[1])
        maps = torch.cat([torch.zeros_like(maps[:, :1]), maps], dim=1)
        if drop is not None:
            maps = torch.where(drop[:, None, None, None], torch.zeros((), dtype=maps.dtype, device=maps.device), maps)
        return maps

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, actions: torch.Tensor,
                drop: torch.Tensor | None = None, cond_noise: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, F, C, H, W), timestep (B,), actions (B, F-1, A) -> (B, F, C_out, H, W).

        ``drop`` (B,) bool: videos whose actions are replaced by the mask embedding (training;
        the original draws it with probability ``config.action_dropout`` inside the forward).
        ``cond_noise`` (B,): frame 0's noise level, embedded into frame 0's spatial condition
        (only with ``config.cond_noise_embed``)."""
        cfg = self.config
        b, f, _, h, w = x.shape
        if f > cfg.num_frames:
            raise ValueError(f"{cfg.name} takes at most {cfg.num_frames} frames, got {f}")
        tokens = self.x_embedder(x.reshape(b * f, *x.shape[2:])) + self.pos_embed
        n = tokens.shape[1]
        if self.pose_map is not None:
            tokens = tokens + self.pose_tokens(actions, drop).reshape(b * f, n, -1)
        t_emb = self.t_embedder(timestep)  # (B, D)
        t_spatial = t_emb.repeat_interleave(f, dim=0)  # (B·F, D), (b, f) order
        t_temporal = t_emb.repeat_interleave(n, dim=0)  # (B·N, D), (b, n) order
        a_emb = self.action_embedding(actions, drop).reshape(b * f, -1)
        c_spatial = t_spatial + a_emb
        if cfg.cond_noise_embed:
            if cond_noise is None:
                raise ValueError(f"{cfg.name} embeds the condition frame's noise level: pass cond_noise")
            extra = torch.zeros(b, f, c_spatial.shape[-1], dtype=c_spatial.dtype, device=c_spatial.device)
            extra[:, 0] = self.cond_noise_embedder(cond_noise)
            c_spatial = c_spatial + extra.reshape(b * f, -1)
        for i in range(0, cfg.depth, 2):
            tokens = self.blocks[i](tokens, c_spatial)
            tokens = tokens.reshape(b, f, n, -1).transpose(1, 2).reshape(b * n, f, -1)
            if i == 0:
                tokens = tokens + self.temp_embed[:, :f]
            tokens = self.blocks[i + 1](tokens, t_temporal)
            tokens = tokens.reshape(b, n, f, -1).transpose(1, 2).reshape(b * f, n, -1)
        out = self.final_layer(tokens, c_spatial if cfg.final_frame_ada else t_spatial)
        return self.unpatchify(out).reshape(b, f, cfg.out_channels, h, w)

    def unpatchify(self, out: torch.Tensor) -> torch.Tensor:
        """(N, tokens, p·p·C) -> (N, C, H, W); a token's channels are (row, column, channel)."""
        p, c, (gh, gw) = self.config.patch_size, self.config.out_channels, self.config.grid
        out = out.reshape(-1, gh, gw, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(-1, c, gh * p, gw * p)
