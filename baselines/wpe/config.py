"""WPE configurations: the released checkpoints' architecture.

Facts from world-model-eval/world-model-eval @ 83c0571 and the world-gymnast fork @ da8ae79
(``model.py``, the runners' ``CHECKPOINTS_TO_KWARGS``; docs/baselines/notes/wpe-original.md):
both released files are ``DiT(in_channels=16, patch_size=2, dim=1024, num_layers=16,
num_heads=16, action_dim=10, max_frames=20)`` on SD3-VAE latents of 256x256 frames (32x32x16).
They differ only in the spatial RoPE variant (``bridge_v2``: pixel; the mixed Open-X model:
standard) and in the guidance their evaluation uses (1 and 3), neither of which has parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

ROPE_KINDS = ("standard", "pixel")


@dataclass(frozen=True)
class WPEConfig:
    name: str
    in_channels: int = 16
    patch_size: int = 2
    dim: int = 1024
    num_layers: int = 16
    num_heads: int = 16
    action_dim: int = 10
    max_frames: int = 20  # the sampler's window: context + new frames
    spatial_rope: str = "standard"
    temporal_rope: str = "standard"
    guidance: float = 1.0  # classifier-free guidance the evaluation uses (1: one pass)
    frequency_embedding_size: int = 256
    # pwbench's small recipe: a spatial action path onto the patch tokens (pwbench.diffusion.pose_map;
    # zero-initialised; absent from the released models); 0 = none. It draws over the latent canvas
    # (height, width), which only the pose map needs to know in advance.
    pose_map_channels: int = 0
    pose_map_hidden: int = 256
    input_size: tuple[int, int] = (32, 32)

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"{self.name}: dim {self.dim} must divide by {self.num_heads} heads")
        head = self.dim // self.num_heads
        if head % 4:
            raise ValueError(f"{self.name}: head dim {head} must divide by 4 (2-D RoPE pairs per axis)")
        if self.pose_map_channels < 0 or self.pose_map_hidden < 1:
            raise ValueError(f"{self.name}: pose_map_channels must be >= 0 and pose_map_hidden >= 1")
        for kind in (self.spatial_rope, self.temporal_rope):
            if kind not in ROPE_KINDS:
                raise ValueError(f"{self.name}: RoPE kind must be one of {ROPE_KINDS}, got {kind!r}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads


MIXED_OPENX = WPEConfig(name="wpe-mixed-openx-9robots-20frames", guidance=3.0)
BRIDGE_V2 = WPEConfig(name="wpe-bridge-v2", spatial_rope="pixel")
OFFICIAL = {"mixed_openx_9robots_20frames": MIXED_OPENX, "bridge_v2": BRIDGE_V2}
