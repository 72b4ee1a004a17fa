"""Segment Anything object masks for datasets without simulator masks (real DROID).

The masked metrics need, per GT frame and view, the pixels of the robot and the objects it moves.
DROID has no segmentation, and its LeRobot port carries extrinsics but no intrinsics, so an
end-effector projection would rest on guessed camera parameters. The prompt rule therefore uses
only the GT frames themselves: **what moves is what the masked metrics are about** (the static
background is what the background region covers).

Rule ``motion-points-v1`` (versioned: any change here is a new name, and the name, the SAM model
type and the checkpoint's sha256 make the mask version the fingerprint hashes):

1. Motion energy of frame t: the largest absolute RGB change to frame t-1 or t+1 (5 Hz),
   box-blurred over ``BLUR_FRACTION`` of the width.
2. Prompts: up to ``MAX_POINTS`` peaks of the energy at or above ``MOTION_THRESHOLD``, taken
   greedily (highest first, ties by lowest pixel index) at least ``SEPARATION_FRACTION`` of the
   width apart — one positive point per prompt, so each moving part gets its own mask.
3. SAM (``multimask_output``) gives three masks per point; the one with the highest predicted IoU
   is kept if it covers at most ``MAX_AREA`` of the frame (a prompt on a moving shadow must not
   return the table) and at least ``MIN_IN_MOTION`` of its pixels lie where the clip moves at
   any time (energy above threshold in some frame, dilated by half the separation).
4. The frame's mask is the union of the kept masks; a frame with no motion has an empty mask
   (and is left out of masked means by the coverage rule, counted).

Only the exterior views are masked: the wrist camera rides on the gripper, so the whole scene
moves in it and the rule has nothing to separate; the wrist view's masked metrics are null and
every run records why. Objects are masked while they move (a still object before a grasp is
background). The rule is deterministic on a given device; masks are computed once per eval set,
cached and hashed (``pwbench.data.mask_store``), so every run reads the same ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from scipy import ndimage

from pwbench import protocol
from pwbench.errors import PwbenchError

PROMPT_RULE = "motion-points-v1"
MASK_VIEWS = protocol.GROUPS["External"]  # the wrist camera moves with the gripper: see above
MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
DEFAULT_MODEL_TYPE = "vit_b"
MOTION_THRESHOLD = 20.0  # of 255: a change a codec's noise does not reach
BLUR_FRACTION = 1 / 40
SEPARATION_FRACTION = 1 / 10
MAX_POINTS = 8
MAX_AREA = 0.25
MIN_IN_MOTION = 0.5
CHECKPOINT_HINT = ("SAM checkpoints: https://github.com/facebookresearch/segment-anything#model-checkpoints "
                   "(vit_b: sam_vit_b_01ec64.pth); pass the file with --sam-checkpoint PATH, or hf:REPO/FILE")


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """float32 (T, H, W): per frame, the largest absolute RGB change to a neighbouring frame, blurred."""
    x = frames.astype(np.int16)
    step = np.abs(np.diff(x, axis=0)).max(axis=-1).astype(np.float32)  # (T-1, H, W)
    energy = np.zeros(frames.shape[:3], np.float32)
    if len(step):
        energy[:-1] = step
        energy[1:] = np.maximum(energy[1:], step)
    size = max(1, round(frames.shape[2] * BLUR_FRACTION)) | 1
    return ndimage.uniform_filter(energy, size=(1, size, size), mode="nearest")


def prompt_points(energy: np.ndarray) -> np.ndarray:
    """int (N, 2) x, y prompt points of one frame's motion energy (rule step 2)."""
    h, w = energy.shape
    radius = SEPARATION_FRACTION * w
    yy, xx = np.mgrid[0:h, 0:w]
    left = np.where(energy >= MOTION_THRESHOLD, energy, -np.inf)
    points: list[tuple[int, int]] = []
    while len(points) < MAX_POINTS:
        flat = int(np.argmax(left))  # the highest left; ties: the lowest pixel index
        if not np.isfinite(left.flat[flat]):
            break
        y, x = divmod(flat, w)
        points.append((x, y))
        left[(xx - x) ** 2 + (yy - y) ** 2 < radius ** 2] = -np.inf  # no second point this close
    return np.array(points, dtype=np.int64).reshape(-1, 2)


def keep_mask(mask: np.ndarray, moving: np.ndarray) -> bool:
    """Rule step 3's filter: not the table, and mostly where the clip moves."""
    area = int(mask.sum())
    return 0 < area <= MAX_AREA * mask.size and int((mask & moving).sum()) >= MIN_IN_MOTION * area


class SamMasker:
    """Masks of one view's frames by the prompt rule, with a ``segment_anything.SamPredictor``."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def view_masks(self, frames: np.ndarray) -> np.ndarray:
        """bool (T, H, W) masks of uint8 (T, H, W, 3) frames."""
        import torch

        energy = motion_energy(frames)
        radius = max(1, round(SEPARATION_FRACTION * frames.shape[2] / 2))
        moving = ndimage.binary_dilation((energy >= MOTION_THRESHOLD).any(axis=0), iterations=radius)
        out = np.zeros(frames.shape[:3], bool)
        for t, frame in enumerate(frames):
            points = prompt_points(energy[t])
            if not len(points):
                continue  # nothing moves: no prompt, no image embedding
            self.predictor.set_image(np.ascontiguousarray(frame), "RGB")
            coords = torch.as_tensor(points, dtype=torch.float32, device=self.predictor.device)[:, None]
            coords = self.predictor.transform.apply_coords_torch(coords, frame.shape[:2])
            labels = torch.ones(coords.shape[:2], dtype=torch.int64, device=coords.device)
            with torch.no_grad():
                masks, scores, _ = self.predictor.predict_torch(coords, labels, multimask_output=True)
            best = masks[torch.arange(len(masks)), scores.argmax(dim=1)].cpu().numpy()
            for mask in best:
                if keep_mask(mask, moving):
                    out[t] |= mask
        return out

    def clip_masks(self, frames: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {view: self.view_masks(frames[view]) for view in MASK_VIEWS if view in frames}


# --- the model -----------------------------------------------------------------------------------

def resolve_checkpoint(spec: str) -> Path:
    """A local checkpoint path, or ``hf:REPO/FILE`` from the Hub (huggingface_hub's cache, token and
    offline mode); a missing file is one line naming it and where checkpoints come from."""
    if spec.startswith("hf:"):
        repo, _, filename = spec[3:].rpartition("/")
        if not repo or not filename:
            raise PwbenchError(f"--sam-checkpoint {spec!r}: a Hub checkpoint is hf:OWNER/REPO/FILE")
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(repo, filename))
        except Exception as err:  # noqa: BLE001 - offline, missing repo or file: one line
            raise PwbenchError(f"SAM checkpoint {filename} of {repo} is not available ({type(err).__name__}); "
                               f"on a machine with internet: hf download {repo} {filename}") from err
    path = Path(spec).expanduser()
    if not path.is_file():
        raise PwbenchError(f"SAM checkpoint {path} not found. {CHECKPOINT_HINT}")
    return path


def checkpoint_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def mask_version(model_type: str, digest: str) -> str:
    """What the fingerprint hashes: the rule, the architecture and the exact weights."""
    return f"sam-{model_type}-{PROMPT_RULE}-{digest[:12]}"


def build_sam(model_type: str):
    """segment_anything's own architecture for ``model_type``, randomly initialised."""
    try:
        from segment_anything import sam_model_registry
    except ImportError as err:
        raise PwbenchError("SAM masks need segment-anything: pip install 'pwbench[masks]'") from err
    if model_type not in MODEL_TYPES:
        raise PwbenchError(f"--sam-model must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
    return sam_model_registry[model_type](checkpoint=None)


def load_predictor(path: Path, model_type: str, device: str = "cpu"):
    """A SamPredictor with the checkpoint's weights (safetensors or a weights-only torch load)."""
    import torch
    from segment_anything import SamPredictor

    sam = build_sam(model_type)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        sam.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise PwbenchError(f"{path} is not a SAM {model_type} checkpoint ({first}); "
                           f"is --sam-model right?") from err
    return SamPredictor(sam.to(device).eval())


# --- an eval set's masks ---------------------------------------------------------------------------

def mask_iou(sam: np.ndarray, exact: np.ndarray) -> float | None:
    """Mean IoU over the frames where either mask is non-empty (None: both empty throughout)."""
    union = (sam | exact).reshape(len(sam), -1).sum(axis=1)
    inter = (sam & exact).reshape(len(sam), -1).sum(axis=1)
    keep = union > 0
    return float((inter[keep] / union[keep]).mean()) if keep.any() else None


def prepare_masks(evalset, checkpoint: str, model_type: str = DEFAULT_MODEL_TYPE, device: str = "cpu",
                  progress: bool = True) -> dict:
    """Compute (or resume) SAM masks for every clip of a prepared eval set and make them the
    dataset's current masks. Where the dataset has exact masks (droid-sim) SAM's are measured
    against them, IoU per view, and stored beside them; they never replace the exact ones.

    Returns the store's info: version, views, clips, failed clips (with why) and the IoU."""
    from tqdm import tqdm

    from pwbench.data.mask_store import MaskStore, source_key
    from pwbench.errors import DatasetError
    from pwbench.io import utc_timestamp

    path = resolve_checkpoint(checkpoint)
    digest = checkpoint_digest(path)
    version = mask_version(model_type, digest)
    store = MaskStore(evalset.task.name, source_key(evalset.manifest), version)
    masker = None
    failed: dict[str, str] = {}
    ious: dict[str, list[float]] = {v: [] for v in MASK_VIEWS}
    for clip_id in tqdm(evalset.clip_ids, desc=f"SAM masks ({model_type})", unit="clip", disable=not progress):
        try:
            clip = evalset.load(clip_id)
            frames = clip.episode.frames
            if store.missing([clip_id]):
                masker = masker or SamMasker(load_predictor(path, model_type, device))
                store.write(clip_id, masker.clip_masks(frames), frames)
            masks = store.read(clip_id, frames)
        except DatasetError as err:
            failed[clip_id] = str(err)
            continue
        if clip.episode.masks is not None:
            for view, mask in masks.items():
                iou = mask_iou(mask, clip.episode.masks[view])
                if iou is not None:
                    ious[view].append(iou)
    iou = {v: {"mean": float(np.mean(x)), "clips": len(x)} for v, x in ious.items() if x}
    info = {"rule": PROMPT_RULE, "model_type": model_type, "checkpoint_sha256": digest,
            "checkpoint": checkpoint, "views": list(MASK_VIEWS), "clips": len(evalset.clip_ids),
            "failed": failed, "iou_vs_exact": iou or None, "created": utc_timestamp()}
    store.make_current(info)
    return {"version": version, **info}
