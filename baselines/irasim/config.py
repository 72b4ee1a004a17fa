"""IRASim configurations: the released Frame-Ada models and pwbench's small droid-sim variant.

Facts from bytedance/IRASim (commit c72b6da, ``configs/evaluation/*/frame_ada.yaml`` and
``models/irasim.py``): every released Frame-Ada checkpoint is IRASim-XL/2 (depth 28 = 14 spatial +
14 temporal blocks, hidden 1152, 16 heads, patch 2, MLP ratio 4), 16 frames (1 conditioning + 15
predicted), 4 SDXL-VAE latent channels in and out (``learn_sigma=False``), and
``final_frame_ada=False`` (the last adaLN sees only the timestep: a legacy of how they were
trained). RT-1 and Bridge run at 256×320 (latent 32×40) with a 7-D action through an MLP; the
Language-Table model at 288×512 (latent 36×64) with a 2-D action through two linear layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SIZES = {  # IRASim_models: (depth, hidden, heads)
    "S": (12, 384, 6),
    "B": (12, 768, 12),
    "L": (24, 1024, 16),
    "XL": (28, 1152, 16),
}


@dataclass(frozen=True)
class IRASimConfig:
    name: str
    input_size: tuple[int, int]  # latent (height, width)
    patch_size: int = 2
    in_channels: int = 4
    out_channels: int = 4
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_frames: int = 16  # 1 conditioning frame + num_frames - 1 predicted
    action_dim: int = 7
    action_embedder: str = "mlp"  # "mlp": fc1 -> GELU(tanh) -> fc2 (RT-1, Bridge); "linear2": Language-Table
    final_frame_ada: bool = False
    action_dropout: float = 0.1  # training: whole videos get the mask embedding on every frame
    frequency_embedding_size: int = 256
    # pwbench's small recipe: embed frame 0's condition-noise level into its spatial condition
    # (zero-initialised; absent from the released models)
    cond_noise_embed: bool = False
    # pwbench's small recipe: a spatial action path onto the patch tokens (pwbench.diffusion.pose_map;
    # zero-initialised; absent from the released models); 0 = none
    pose_map_channels: int = 0
    pose_map_hidden: int = 256

    def __post_init__(self) -> None:
        if self.depth % 2:
            raise ValueError(f"{self.name}: depth must be even (spatial, temporal pairs), got {self.depth}")
        if self.hidden_size % self.num_heads or self.hidden_size % 4:
            raise ValueError(f"{self.name}: hidden size {self.hidden_size} must divide by the heads and by 4")
        h, w = self.input_size
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"{self.name}: latent {self.input_size} is not a multiple of patch {self.patch_size}")
        if self.action_embedder not in ("mlp", "linear2"):
            raise ValueError(f"{self.name}: action_embedder must be 'mlp' or 'linear2'")
        if self.pose_map_channels < 0 or self.pose_map_hidden < 1:
            raise ValueError(f"{self.name}: pose_map_channels must be >= 0 and pose_map_hidden >= 1")

    @property
    def grid(self) -> tuple[int, int]:
        return self.input_size[0] // self.patch_size, self.input_size[1] // self.patch_size


def sized(size: str, patch: int = 2, **kw) -> IRASimConfig:
    depth, hidden, heads = SIZES[size]
    return IRASimConfig(name=f"IRASim-{size}/{patch}", patch_size=patch, depth=depth, hidden_size=hidden,
                        num_heads=heads, **kw)


RT1 = sized("XL", input_size=(32, 40))
BRIDGE = replace(RT1)  # the same architecture and action space as RT-1
LANGUAGE_TABLE = sized("XL", input_size=(36, 64), action_dim=2, action_embedder="linear2")
OFFICIAL = {"rt1": RT1, "bridge": BRIDGE, "languagetable": LANGUAGE_TABLE}

# pwbench's small variant for droid-sim: the three 96x160 views coded by the shared 8x8 patch-PCA
# (48 channels) and stacked on height give a 36x20 latent canvas; IRASim-S-like width with 6
# spatial + 6 temporal blocks (8.4 M parameters, near the small Ctrl-World's 6.7 M; one training
# step of batch 4 takes ~3.4 s on 2 threads). The action is 24 features per frame
# (baselines.irasim.actions).
SMALL_NET = IRASimConfig(name="IRASim-droid-sim/2", input_size=(36, 20), in_channels=48, out_channels=48,
                         hidden_size=192, depth=12, num_heads=3, action_dim=24, action_dropout=0.0,
                         cond_noise_embed=True)
