"""Ctrl-World configurations: the official full size and the small CPU variant.

Both variants are built by the same classes from one :class:`CtrlWorldConfig`; they differ only
in the numbers below (and in their weights). The FULL numbers are the published architecture:
the SVD img2vid UNet defaults (which ``Robert-gyj/Ctrl-World`` instantiates with no arguments),
the SVD temporal VAE, SVD's CLIP ViT-H/14 image encoder, CLIP ViT-B/32's text tower and the
7→1024 action MLP. The SMALL numbers are chosen so that one training step of batch 4 and one
rollout chunk both take well under a second on one CPU core (see the model card).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pwbench.diffusion.recipe import SMALL_RECIPE
from pwbench.diffusion.schedule import KarrasSchedule, LogNormalSigma

# The history pattern of the original replay/keyboard scripts: indices into a buffer that holds
# one 3-view latent per rollout step (the last predicted frame of each chunk).
HISTORY_IDX: tuple[int, ...] = (0, 0, -8, -6, -4, -2)


@dataclass(frozen=True)
class UNetConfig:
    """Keyword arguments of diffusers' ``UNetSpatioTemporalConditionModel`` (same names)."""

    in_channels: int = 8
    out_channels: int = 4
    down_block_types: tuple[str, ...] = ("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",)
    up_block_types: tuple[str, ...] = ("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    addition_time_embed_dim: int = 256
    projection_class_embeddings_input_dim: int = 768
    layers_per_block: int = 2
    cross_attention_dim: int = 1024
    transformer_layers_per_block: int = 1
    num_attention_heads: tuple[int, ...] = (5, 10, 20, 20)
    num_frames: int = 25

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VAEConfig:
    """The autoencoder. ``kind="svd"``: diffusers' ``AutoencoderKLTemporalDecoder`` (SVD's
    config below). ``kind="patch-pca"``: the small variant's fixed linear patch autoencoder
    (:mod:`baselines.ctrl_world.autoencoder`), whose ``latent_channels`` and ``patch`` apply."""

    kind: str = "svd"
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 4
    patch: int = 8  # spatial down-sampling factor (SVD: 2**(len(blocks)-1) = 8)
    scaling_factor: float = 0.18215
    sample_size: int = 768
    whiten: bool = True  # patch-pca only: divide each component by its std (see autoencoder.py)

    def __post_init__(self) -> None:
        if self.kind not in ("svd", "patch-pca"):
            raise ValueError(f"unknown autoencoder kind {self.kind!r}")


@dataclass(frozen=True)
class CLIPTextSize:
    """``transformers.CLIPTextConfig`` fields (openai/clip-vit-base-patch32's text tower)."""

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    bos_token_id: int = 49406
    eos_token_id: int = 49407
    pad_token_id: int = 1


@dataclass(frozen=True)
class CLIPVisionSize:
    """``transformers.CLIPVisionConfig`` fields (SVD's OpenCLIP ViT-H/14 image encoder)."""

    hidden_size: int = 1280
    intermediate_size: int = 5120
    projection_dim: int = 1024
    num_hidden_layers: int = 32
    num_attention_heads: int = 16
    image_size: int = 224
    patch_size: int = 14
    hidden_act: str = "gelu"


@dataclass(frozen=True)
class CtrlWorldConfig:
    """Everything that defines one Ctrl-World variant (architecture, conditioning, sampler)."""

    name: str
    unet: UNetConfig = field(default_factory=UNetConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text: CLIPTextSize = field(default_factory=CLIPTextSize)
    vision: CLIPVisionSize = field(default_factory=CLIPVisionSize)
    tokenizer: str = "clip"  # "clip": openai/clip-vit-base-patch32's; "hash": HashTokenizer
    # action encoder: one token per frame, 7 -> hidden -> hidden -> hidden
    action_dim: int = 7
    action_hidden: int = 1024
    # frames and views
    view_height: int = 192
    view_width: int = 320
    num_views: int = 3
    num_history: int = 6
    num_frames: int = 5  # frames per chunk; frame 0 re-predicts the current frame
    history_idx: tuple[int, ...] = HISTORY_IDX
    buffer_prefill: int = 24  # the buffer starts as num_history*4 copies of the first frame
    # SVD micro-conditioning (added_time_ids): fps, motion bucket, noise-aug strength
    fps: int = 7
    motion_bucket_id: int = 127
    noise_aug_train: float = 0.0
    noise_aug_infer: float = 0.02  # the pipeline default the original keeps at inference
    # sampler (SVD scheduler config: Euler, Karras sigmas, v-prediction)
    num_steps: int = 50
    sigma_min: float = 0.002
    sigma_max: float = 700.0
    rho: float = 7.0
    min_guidance: float = 1.0
    max_guidance: float = 2.0  # 1.0: no classifier-free guidance (one network call per step)
    # training (EDM, as in CrtlWorld.forward)
    train_sigma: LogNormalSigma = LogNormalSigma(p_mean=0.7, p_std=1.6)
    history_sigma_std: float = 0.3
    cond_sigma_max: float = 0.2
    uncond_prob: float = 0.05
    # the small-model recipe (pwbench.diffusion); the official values reproduce the original
    sigma_data: float = 1.0  # EDM sigma_data of what is diffused (SVD: 1)
    residual: bool = False  # diffuse z_future - z_current, history given as residuals too
    zero_init_output: bool = False  # conv_out starts at 0: the network's raw output is 0
    pose_features: str = "bound"  # "bound": normalize_bound of the 7-D pose; "continuous": PoseFeatures
    cond_noise_time_id: bool = False  # tell the UNet the condition frame's noise level (SVD's noise_aug id)
    windows: str = "original"  # training windows: the original loader's, or the rollout's memory pattern
    pose_map_channels: int = 0  # >0: a spatial pose path besides the tokens (action_encoder.PoseMap)
    pose_map_hidden: int = 256

    def __post_init__(self) -> None:
        if self.unet.in_channels != 2 * self.vae.latent_channels:
            raise ValueError(f"{self.name}: UNet in_channels must be 2x latent channels (noisy + condition)")
        if self.unet.out_channels != self.vae.latent_channels:
            raise ValueError(f"{self.name}: UNet out_channels must equal latent channels")
        if self.unet.cross_attention_dim != self.action_hidden:
            raise ValueError(f"{self.name}: action tokens must have the cross-attention width")
        if self.action_hidden % self.text.projection_dim != 0:
            raise ValueError(f"{self.name}: the text embedding is tiled to the token width")
        if self.view_height % self.vae.patch or self.view_width % self.vae.patch:
            raise ValueError(f"{self.name}: view size must be a multiple of the latent factor")
        if self.pose_features not in ("bound", "continuous"):
            raise ValueError(f"{self.name}: pose_features must be 'bound' or 'continuous'")
        if self.windows not in ("original", "rollout"):
            raise ValueError(f"{self.name}: windows must be 'original' or 'rollout'")
        if self.pose_map_channels < 0 or self.pose_map_hidden < 1:
            raise ValueError(f"{self.name}: pose_map_channels must be >= 0 and pose_map_hidden >= 1")
        expected_dim = 7 if self.pose_features == "bound" else 17
        if self.action_dim != expected_dim:
            raise ValueError(f"{self.name}: {self.pose_features} poses have {expected_dim} features, "
                             f"action_dim is {self.action_dim}")
        self.schedule(self.num_steps)  # validates the sampler settings

    def schedule(self, num_steps: int | None = None) -> KarrasSchedule:
        return KarrasSchedule(num_steps or self.num_steps, self.sigma_min, self.sigma_max, self.rho)

    @property
    def latent_hw(self) -> tuple[int, int]:
        """Latent (height, width) of the 3-view canvas (views stacked along height)."""
        p = self.vae.patch
        return self.num_views * self.view_height // p, self.view_width // p

    @property
    def text_tiles(self) -> int:
        return self.action_hidden // self.text.projection_dim

    def with_(self, **changes: Any) -> CtrlWorldConfig:
        return replace(self, **changes)


FULL = CtrlWorldConfig(name="ctrl-world-droid")

SMALL = CtrlWorldConfig(
    name="ctrl-world-droid-sim-small",
    unet=UNetConfig(
        in_channels=2 * 48,
        out_channels=48,
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
        block_out_channels=(64, 96),
        addition_time_embed_dim=32,
        projection_class_embeddings_input_dim=96,
        layers_per_block=1,
        cross_attention_dim=128,
        num_attention_heads=(2, 4),
        num_frames=11,
    ),
    vae=VAEConfig(kind="patch-pca", latent_channels=48, patch=8, scaling_factor=1.0,
                  block_out_channels=(), layers_per_block=0, sample_size=0, whiten=False),
    text=CLIPTextSize(vocab_size=4096, hidden_size=64, intermediate_size=128, projection_dim=64,
                      num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=32,
                      bos_token_id=4094, eos_token_id=4095, pad_token_id=4095),
    vision=CLIPVisionSize(hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=1,
                          num_attention_heads=2, image_size=32, patch_size=16),
    tokenizer="hash",
    action_dim=17,
    action_hidden=128,
    view_height=96,
    view_width=160,
    # Noise levels: the sampler must start where the chunk is truly hidden. DIAMOND's sigma_max 5
    # (and training sigma log-normal(-0.4, 1.2) clipped to 20) suits its small frames, but on this
    # 36x20x48 canvas a sigma-5 input still shows the chunk's coarse layout: the first model learned
    # to denoise it, and from the pure noise the sampler starts with it predicted nothing (x0 error
    # 0.260 vs 0.261 for copy-last's zero residual, validation windows; docs/baselines/ctrl-world.md).
    # So: sigma_max 80 (EDM's default), training sigma log-normal(1.0, 1.6) clipped to [0.002, 200],
    # so that about one window in ten is trained where only the conditioning (history, current
    # frame, poses) can tell the chunk. Steps: chosen on the validation episodes (model card).
    # These values are pwbench.diffusion.recipe.SMALL_RECIPE, shared by every small model.
    num_steps=SMALL_RECIPE.num_steps,
    noise_aug_infer=0.0,  # the condition frame is used as predicted, and the UNet is told so
    sigma_min=SMALL_RECIPE.sigma_min,
    sigma_max=SMALL_RECIPE.sigma_max,
    rho=SMALL_RECIPE.rho,
    max_guidance=1.0,
    train_sigma=SMALL_RECIPE.train_sigma,
    uncond_prob=0.0,  # CFG off: it changed nothing measurable and doubles the cost (issue #8 review)
    history_sigma_std=0.3,
    cond_sigma_max=SMALL_RECIPE.cond_sigma_max,
    sigma_data=SMALL_RECIPE.sigma_data,
    residual=True,
    zero_init_output=True,
    pose_features="continuous",
    cond_noise_time_id=True,
    windows="rollout",
    pose_map_channels=8,  # the first model without it ignored its actions (model card)
)

CONFIGS: dict[str, CtrlWorldConfig] = {"droid": FULL, "droid-sim": SMALL}
