"""Tiny Ctrl-World configurations: same classes, sizes small enough for millisecond forwards."""

from __future__ import annotations

import pytest
import torch

from baselines.ctrl_world.config import SMALL, CLIPTextSize, CtrlWorldConfig, UNetConfig, VAEConfig
from baselines.ctrl_world.model import CtrlWorld

TINY = CtrlWorldConfig(
    name="tiny",
    unet=UNetConfig(in_channels=8, out_channels=4,
                    down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
                    up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
                    block_out_channels=(32, 32), addition_time_embed_dim=8,
                    projection_class_embeddings_input_dim=24, layers_per_block=1, cross_attention_dim=32,
                    num_attention_heads=(1, 2), num_frames=11),
    vae=VAEConfig(kind="patch-pca", latent_channels=4, patch=8, scaling_factor=1.0, block_out_channels=(),
                  layers_per_block=0, sample_size=0),
    text=CLIPTextSize(vocab_size=64, hidden_size=16, intermediate_size=32, projection_dim=16, num_hidden_layers=1,
                      num_attention_heads=2, max_position_embeddings=12, bos_token_id=62, eos_token_id=63,
                      pad_token_id=63),
    vision=SMALL.vision,
    tokenizer="hash",
    action_hidden=32,
    view_height=16,
    view_width=32,
    num_steps=3,
)


# the small recipe's settings on the tiny sizes (residual, sigma_data 0.5, continuous poses, no CFG)
TINY_RESIDUAL = TINY.with_(name="tiny-residual", action_dim=17, sigma_data=0.5, residual=True, zero_init_output=True,
                           pose_features="continuous", cond_noise_time_id=True, windows="rollout",
                           sigma_max=SMALL.sigma_max, max_guidance=1.0, uncond_prob=0.0, train_sigma=SMALL.train_sigma)


@pytest.fixture(scope="session")
def tiny_model() -> CtrlWorld:
    torch.manual_seed(0)
    return CtrlWorld(TINY).eval()


@pytest.fixture(scope="session")
def tiny_residual_model() -> CtrlWorld:
    torch.manual_seed(0)
    return CtrlWorld(TINY_RESIDUAL).eval()


@pytest.fixture(scope="session")
def tiny_config() -> CtrlWorldConfig:
    return TINY


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run faster on one thread, and a shared 2-core machine stalls on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
