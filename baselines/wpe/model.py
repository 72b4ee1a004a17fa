"""The WPE network (WorldGym, arXiv 2506.00613): a DiT with factorised spatial / causal temporal
attention, 2-D and 1-D rotary position embeddings, and a timestep and action per frame.

Written for pwbench from a reading of world-model-eval (docs/baselines/notes/wpe-original.md);
module names and shapes are the released checkpoints' (``checkpoint_keys/``), and a test compares
outputs with the original class's on a tiny model (``tests/baselines/wpe/fixtures/tiny.pt``).

* Latents are channels-last (B, T, H, W, C); each frame is cut into p x p patches by a strided
  conv. There is no absolute position table: positions enter only through RoPE.
* Each frame has its own condition c_t = MLP(timestep features of t_t) + Linear(action_t): a
  noise level per frame is what diffusion forcing trains and what the pyramid sampler needs.
* Each of the L layers is a spatial block (full attention over one frame's h*w tokens, 2-D RoPE:
  the first half of each head's pairs rotate with the row, the second with the column) and then a
  temporal block (causal attention over the frames at one position, 1-D RoPE over the frame index
  within the window); both are adaLN-Zero blocks modulated by that frame's c.
* pwbench's small recipe may add a pose map (:mod:`pwbench.diffusion.pose_map`): each frame's
  action drawn as maps over the latent canvas and patchified onto that frame's tokens,
  zero-initialised — adaLN gives every token of a frame the same modulation, so the action has no
  spatial path of its own.
* RoPE rotates adjacent pairs (2i, 2i+1) and is computed in float32 at least: the original builds
  its table in the query's dtype, which under fp16/bf16 autocast is off by up to 1.5 rad for pixel
  RoPE; float32 is what was meant.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from baselines.wpe.config import WPEConfig
from pwbench.diffusion.embeddings import timestep_features
from pwbench.diffusion.pose_map import PoseMap


def rope_angles(shape: tuple[int, ...], head_dim: int, kind: str, device: torch.device | str = "cpu",
                base: float = 10000.0) -> torch.Tensor:
    """(prod(shape), head_dim / 2) rotation angles of the row-major positions of ``shape``."""
    half = head_dim // len(shape) // 2
    per_axis = []
    for n in shape:
        if kind == "standard":
            freqs = 1.0 / base ** (torch.arange(half, dtype=torch.float32, device=device) / half)
            coords = torch.arange(n, dtype=torch.float32, device=device)
        else:  # "pixel": coordinates in [-1, 1], frequencies pi * linspace(1, 128)
            freqs = torch.linspace(1.0, 128.0, half, dtype=torch.float32, device=device) * math.pi
            coords = torch.linspace(-1.0, 1.0, n, dtype=torch.float32, device=device)
        per_axis.append(coords[:, None] * freqs[None])  # (n, half)
    grids = torch.meshgrid(*[torch.arange(n, device=device) for n in shape], indexing="ij")
    return torch.cat([a[g.reshape(-1)] for a, g in zip(per_axis, grids, strict=True)], dim=-1)


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs of x (..., L, head_dim) by angles (L, head_dim / 2)."""
    dtype = x.dtype
    x = x.float()
    cos = angles.cos().repeat_interleave(2, dim=-1)
    sin = angles.sin().repeat_interleave(2, dim=-1)
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)  # (-x1, x0) per pair
    return (x * cos + rotated * sin).to(dtype)


class FrameCache:
    """One temporal block's rotated keys and values of a window's first frames.

    Causal temporal attention makes a frame's activations depend only on itself and earlier
    frames, so frames that a sampler no longer changes — clean context, finished frames — need
    one pass, not one per network call: later calls run only the frames after them."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None  # (N, heads, frames, head_dim)
        self.values: torch.Tensor | None = None
        self.window: int | None = None  # the window length whose RoPE positions the keys carry

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.keys = keys if self.keys is None else torch.cat([self.keys, keys], 2)
        self.values = values if self.values is None else torch.cat([self.values, values], 2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv_proj = nn.Linear(dim, 3 * dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, angles: torch.Tensor, causal: bool,
                cache: FrameCache | None = None, commit: int = 0) -> torch.Tensor:
        """x (N, L, D) -> (N, L, D); q | k | v contiguous, heads split head-major. With ``cache``
        (causal only) x holds the L positions after the cached ones, which every query also sees;
        the keys and values of x's first ``commit`` positions are then appended to it."""
        if cache is not None and not causal:
            raise ValueError("a frame cache needs causal attention: later frames would change cached ones")
        n, length, dim = x.shape
        q, k, v = (t.reshape(n, length, self.heads, -1).transpose(1, 2) for t in self.qkv_proj(x).chunk(3, -1))
        q, k = apply_rope(q, angles), apply_rope(k, angles)
        if cache is None or cache.keys is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            start = cache.length
            key_pos = torch.arange(start + length, device=x.device)[None]
            seen = key_pos <= start + torch.arange(length, device=x.device)[:, None]  # causal across the cache
            out = F.scaled_dot_product_attention(q, torch.cat([cache.keys, k], 2), torch.cat([cache.values, v], 2),
                                                 attn_mask=seen)
        if cache is not None and commit:
            cache.append(k[:, :, :commit], v[:, :, :commit])
        return self.out_proj(out.transpose(1, 2).reshape(n, length, dim))


class DiTBlock(nn.Module):
    """adaLN-Zero around attention and an MLP; ``temporal`` picks the sequence axis."""

    def __init__(self, dim: int, heads: int, temporal: bool) -> None:
        super().__init__()
        self.temporal = temporal
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))  # first in the state dict
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ffwd = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(approximate="tanh"), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor, angles: torch.Tensor,
                cache: FrameCache | None = None, commit: int = 0) -> torch.Tensor:
        """x (B, T, h, w, D), c (B, T, D); ``cache``, ``commit``: :meth:`Attention.forward`'s."""
        b, t, h, w, d = x.shape
        m = self.adaLN_modulation(c)[:, :, None, None, :].chunk(6, dim=-1)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = m
        y = self.norm1(x) * (1 + scale_a) + shift_a
        if self.temporal:  # (B*h*w, T, D), causal over frames
            seq = y.permute(0, 2, 3, 1, 4).reshape(b * h * w, t, d)
            out = self.attn(seq, angles, True, cache, commit).reshape(b, h, w, t, d).permute(0, 3, 1, 2, 4)
        else:  # (B*T, h*w, D)
            out = self.attn(y.reshape(b * t, h * w, d), angles, causal=False).reshape(b, t, h, w, d)
        x = x + out * gate_a
        return x + self.ffwd(self.norm2(x) * (1 + scale_m) + shift_m) * gate_m


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.s_block = DiTBlock(dim, heads, temporal=False)
        self.t_block = DiTBlock(dim, heads, temporal=True)


class FinalLayer(nn.Module):
    def __init__(self, dim: int, patch: int, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(dim, patch * patch * channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c)[:, :, None, None, :].chunk(2, dim=-1)
        return self.linear(self.norm(x) * (1 + scale) + shift)


class WPE(nn.Module):
    def __init__(self, config: WPEConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.x_proj = nn.Conv2d(config.in_channels, d, kernel_size=config.patch_size, stride=config.patch_size)
        self.timestep_mlp = nn.Sequential(nn.Linear(config.frequency_embedding_size, d), nn.SiLU(), nn.Linear(d, d))
        self.action_embedder = nn.Linear(config.action_dim, d)
        self.blocks = nn.ModuleList([Block(d, config.num_heads) for _ in range(config.num_layers)])
        self.final_layer = FinalLayer(d, config.patch_size, config.in_channels)
        self.initialize_weights()
        # after initialize_weights: the pose map keeps its own initialisation (a zero projection)
        self.pose_map = (PoseMap.onto_patches(config.action_dim, config.pose_map_hidden, config.pose_map_channels,
                                              config.input_size, d, config.patch_size)
                         if config.pose_map_channels else None)

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """DiT's: xavier linears (zero bias), N(0, 0.02) timestep MLP, zero adaLN outputs and final
        linear — each block starts as the identity and the output is exactly 0."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.x_proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_proj.bias)
        nn.init.normal_(self.timestep_mlp[0].weight, std=0.02)
        nn.init.normal_(self.timestep_mlp[2].weight, std=0.02)
        for block in self.blocks:
            for sub in (block.s_block, block.t_block):
                nn.init.zeros_(sub.adaLN_modulation[-1].weight)
                nn.init.zeros_(sub.adaLN_modulation[-1].bias)
        for layer in (self.final_layer.adaLN_modulation[-1], self.final_layer.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def condition(self, t: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Per-frame condition (B, T, D) from timesteps (B, T) and actions (B, T, A)."""
        feats = timestep_features(t, self.config.frequency_embedding_size).to(self.action_embedder.weight.dtype)
        return self.timestep_mlp(feats) + self.action_embedder(action)

    def new_cache(self) -> list[FrameCache]:
        return [FrameCache() for _ in self.blocks]

    def forward(self, x: torch.Tensor, t: torch.Tensor, action: torch.Tensor, cache: list[FrameCache] | None = None,
                commit: int = 0, window: int | None = None) -> torch.Tensor:
        """x (B, T, H, W, C) latents, t (B, T) per-frame timesteps, action (B, T, A) -> (B, T, H, W, C).

        Incremental use (a sampler's calls within one window): with ``cache`` (from
        :meth:`new_cache`) x holds the frames after the cached ones, and the first ``commit`` of
        them are added to it; ``window`` is the whole window's length, which fixes the temporal
        RoPE positions (pixel RoPE spreads them over the window). The outputs equal those of one
        pass over the whole window at the same positions."""
        cfg = self.config
        b, frames, height, width, chans = x.shape
        p = cfg.patch_size
        start = cache[0].length if cache else 0
        if cache and window is None:
            raise ValueError("incremental use needs the whole window's length (window=) for its RoPE positions")
        window = start + frames if window is None else window
        if not start + frames <= window:
            raise ValueError(f"frames {start}..{start + frames - 1} lie outside a window of {window}")
        if cache:  # keys rotated for another window length would be silently wrong
            if cache[0].window not in (None, window):
                raise ValueError(f"the cache holds keys of a {cache[0].window}-frame window, not {window}")
            for layer in cache:
                layer.window = window
        tokens = self.x_proj(x.reshape(b * frames, height, width, chans).permute(0, 3, 1, 2))
        h, w = tokens.shape[-2:]
        if self.pose_map is not None:  # each frame's own action: the frame cache stays exact
            if (height, width) != tuple(cfg.input_size):
                raise ValueError(f"{cfg.name}'s pose map draws {cfg.input_size} latents, got {(height, width)}")
            tokens = tokens + self.pose_map(action)
        tokens = tokens.permute(0, 2, 3, 1).reshape(b, frames, h, w, -1)
        c = self.condition(t, action)
        spatial = rope_angles((h, w), cfg.head_dim, cfg.spatial_rope, x.device)
        temporal = rope_angles((window,), cfg.head_dim, cfg.temporal_rope, x.device)[start:start + frames]
        for i, block in enumerate(self.blocks):
            tokens = block.s_block(tokens, c, spatial)
            tokens = block.t_block(tokens, c, temporal, cache[i] if cache else None, commit)
        out = self.final_layer(tokens, c)  # (B, T, h, w, p*p*C), a patch's channels (p1, p2, c)
        out = out.reshape(b, frames, h, w, p, p, chans).permute(0, 1, 2, 4, 3, 5, 6)
        return out.reshape(b, frames, h * p, w * p, chans)


def null_action(action: torch.Tensor) -> torch.Tensor:
    """The unconditional action of the fork's guidance and action dropout: zeros with the last
    entry 1 (all zeros means "do not move", which is still a condition)."""
    null = torch.zeros_like(action)
    null[..., -1] = 1.0
    return null
