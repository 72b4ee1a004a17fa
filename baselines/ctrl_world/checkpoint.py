"""Weights: the official ``yjguo/Ctrl-World`` checkpoint and the shipped small variant.

Official: ``checkpoint-10000.pt`` is ``torch.save(CrtlWorld.state_dict())`` — all five modules
under their prefixes. It is opened with ``weights_only=True`` (no pickle code runs) and
``mmap=True`` (the ~9 GB file is paged in, not copied), then assigned into a model built on
the meta device, so host memory never holds two copies. The SVD and CLIP folders are only
needed for their configs (checked against :data:`FULL`) and CLIP's tokenizer.

Small: safetensors shards in ``weights/droid-sim/`` (each under 20 MB), with the pose
normalisation statistics and training facts in the safetensors metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from baselines.ctrl_world.config import FULL, SMALL, CtrlWorldConfig
from baselines.ctrl_world.model import CtrlWorld
from pwbench.errors import PwbenchError, WeightsMismatch
from pwbench.models.shards import load_exactly, read_shards, save_shards, shard_files

OFFICIAL_REPO = "yjguo/Ctrl-World"
OFFICIAL_FILE = "checkpoint-10000.pt"
SVD_REPO = "stabilityai/stable-video-diffusion-img2vid"
SVD_CONFIG_FILES = ("unet/config.json", "vae/config.json", "image_encoder/config.json",
                    "scheduler/scheduler_config.json")
CLIP_REPO = "openai/clip-vit-base-patch32"
DOWNLOAD_COMMAND = (
    f"hf download {OFFICIAL_REPO} {OFFICIAL_FILE} && "
    f"hf download {SVD_REPO} --include '*.json' && "
    f"hf download {CLIP_REPO} --include '*.json' '*.txt'"
)
# 1st/99th percentiles of DROID's 7-D pose (xyz, euler xyz, gripper), as published with the
# original code (dataset_meta_info/droid/stat.json); the official model was trained with them.
DROID_Q01 = (0.2676655471324921, -0.441715806722641, -0.042784303426742554, -3.1373724937438965,
             -1.214390754699707, -2.11581574678421, 0.0)
DROID_Q99 = (0.781050771474838, 0.4366717040538788, 0.7843997478485107, 3.137465238571167,
             0.9039141565561147, 1.9915846586227417, 0.9911894202232361)

SMALL_WEIGHTS_DIR = Path(__file__).parent / "weights" / "droid-sim"


class WeightsMissing(PwbenchError, FileNotFoundError):
    """Weights are not on this machine (and could not be fetched); the message says how to get them."""


def _hub_file(repo: str, filename: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(hf_hub_download(repo, filename))
    except (LocalEntryNotFoundError, EntryNotFoundError, RepositoryNotFoundError, OSError) as err:
        raise WeightsMissing(
            f"Ctrl-World official weights are not available: {repo}/{filename} could not be found in the "
            f"Hugging Face cache or downloaded ({type(err).__name__}). The official variant needs "
            f"{OFFICIAL_REPO} ({OFFICIAL_FILE}, ~9 GB), the configs of {SVD_REPO} and the tokenizer of "
            f"{CLIP_REPO}. Download them on a machine with internet access (then copy the HF cache, or "
            f"pass weights=PATH):\n  {DOWNLOAD_COMMAND}") from err


def check_svd_configs(folder_files: dict[str, Path], config: CtrlWorldConfig = FULL) -> None:
    """Fail loudly if the downloaded SVD UNet/VAE configs disagree with the built architecture."""
    unet = json.loads(folder_files["unet/config.json"].read_text())
    for key, value in config.unet.kwargs().items():
        if key in unet and key != "num_frames" and _norm(unet[key]) != _norm(value):
            raise ValueError(f"{SVD_REPO} unet/config.json has {key}={unet[key]!r}, the model builds {value!r}")
    vae = json.loads(folder_files["vae/config.json"].read_text())
    for key in ("block_out_channels", "latent_channels", "layers_per_block", "scaling_factor"):
        if key in vae and _norm(vae[key]) != _norm(getattr(config.vae, key)):
            raise ValueError(f"{SVD_REPO} vae/config.json has {key}={vae[key]!r}")


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


def load_official(device: str = "cuda", dtype: torch.dtype = torch.bfloat16,
                  weights: str | Path | None = None) -> CtrlWorld:
    """The official model (bf16 on GPU by default) with CLIP's tokenizer attached."""
    ckpt = Path(weights) if weights else _hub_file(OFFICIAL_REPO, OFFICIAL_FILE)
    if not ckpt.is_file():
        raise WeightsMissing(f"{ckpt} does not exist. Get the official weights with:\n  {DOWNLOAD_COMMAND}")
    configs = {name: _hub_file(SVD_REPO, name) for name in SVD_CONFIG_FILES}
    check_svd_configs(configs)
    state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    with torch.device("meta"):
        model = CtrlWorld(FULL)
    model.load_state_dict(state, strict=True, assign=True)
    model = model.to(device=device, dtype=dtype).eval()
    try:
        from baselines.ctrl_world.text import clip_tokenizer

        model.tokenize = clip_tokenizer(CLIP_REPO)
    except OSError as err:
        raise WeightsMissing(f"the CLIP tokenizer of {CLIP_REPO} is not available ({err}). Get it with:\n"
                             f"  {DOWNLOAD_COMMAND}") from err
    return model


def save_small(model: CtrlWorld, folder: str | Path, metadata: dict[str, Any]) -> list[Path]:
    """Write the state dict as safetensors shards under 20 MB each."""
    return save_shards(model.state_dict(), folder, metadata)


def read_small(folder: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict and metadata of small-model safetensors (default: the shipped weights)."""
    folder = Path(folder) if folder else SMALL_WEIGHTS_DIR
    files = shard_files(folder)
    if not files:
        raise WeightsMissing(f"no small Ctrl-World weights in {folder}; train them with "
                             "`pwbench train ctrl-world --task droid-sim` (see docs/baselines/ctrl-world.md)")
    return read_shards(files)


def load_small(folder: str | Path | None = None, config: CtrlWorldConfig = SMALL,
               device: str = "cpu") -> tuple[CtrlWorld, dict[str, Any]]:
    """The shipped small model and its metadata (stats ``pose_q01``/``pose_q99``, training facts)."""
    state, meta = read_small(folder)
    model = CtrlWorld(config)
    problem = load_exactly(model, state)
    if problem:
        raise WeightsMismatch(f"the weights in {folder or SMALL_WEIGHTS_DIR} do not fit the {config.name} "
                              f"configuration (trained as {meta.get('config', '?')!r}, "
                              f"{meta.get('train_steps', '?')} steps): {problem}. "
                              "Retrain with `pwbench train ctrl-world --task droid-sim`.")
    return model.to(device).eval(), meta
