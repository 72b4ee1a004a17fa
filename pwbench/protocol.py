"""Protocol v1: every constant that defines what pwbench measures, in one place.

Nothing else in the package hard-codes a view name, a frame rate, a horizon or a metric
setting: it imports them from here, so a change to the benchmark is a change to this file
(and to ``PROTOCOL_VERSION``), and the fingerprint of every result moves with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PROTOCOL_VERSION = 1

# Frames -------------------------------------------------------------------------------------
VIEWS: tuple[str, ...] = ("exterior_1_left", "exterior_2_left", "wrist_left")
VIDEO_KEY_PREFIX = "observation.images."
GROUPS: dict[str, tuple[str, ...]] = {
    "External": ("exterior_1_left", "exterior_2_left"),
    "Wrist": ("wrist_left",),
}
SOURCE_FPS = 15
FPS = 5
SUBSAMPLE = SOURCE_FPS // FPS  # keep every 3rd source frame, phase 0 at the episode's first
# Resize rule: float bilinear with antialiasing (torch.nn.functional.interpolate, align_corners
# False), round half to even, back to uint8; done once, when the eval set is prepared.
RESIZE_RULE = "torch-bilinear-antialias-v1"
# Masks are label maps, so they are resized by nearest neighbour (never blended).
MASK_RESIZE_RULE = "torch-nearest-exact-v1"

# The Ctrl-World action: cartesian xyz, euler xyz (observation.state.cartesian_position) and the
# gripper (observation.state.gripper_position) of the frame being predicted.
ACTION_DIM = 7
JOINT_DIM = 7
ACTION_FEATURES = ("observation.state.cartesian_position", "observation.state.gripper_position")
JOINT_FEATURE = "observation.state.joint_position"

# Horizons -----------------------------------------------------------------------------------
HORIZON_GRID: dict[str, int] = {"1s": 5, "2s": 10, "4s": 20, "8s": 40, "11s": 56}
AT_H_WINDOW = 4  # "at-h" = mean over the last 4 predicted frames ending at h
REGIME = "autoregressive"
# Action regimes. "true": each clip's own actions. "shuffled": each clip gets another clip's
# actions (a fixed derangement of the manifest, pwbench.rollout.action_donors) while keeping its own
# context and seed, so true - shuffled is the paired *action sensitivity* of a model: zero for a
# model that ignores actions (copy-last), clearly positive for a world model that follows them.
ACTION_REGIMES: tuple[str, ...] = ("true", "shuffled")

# Metrics ------------------------------------------------------------------------------------
PSNR_CAP_DB = 100.0  # identical frames would give +inf; capped and documented
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 1.0
LPIPS_NET = "alex"
LPIPS_VERSION = "0.1"
MASK_MIN_COVERAGE = 0.005  # frames whose mask covers less are left out of masked means
METRICS: tuple[str, ...] = ("psnr", "ssim", "lpips")
REGIONS: tuple[str, ...] = ("full", "masked", "background")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False}

# Statistics ---------------------------------------------------------------------------------
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95


def horizon_frames(name: str) -> int:
    """Frames predicted for a horizon name: a grid name, any ``Xs`` (round(5·X)) or an int."""
    text = str(name).strip()
    if text in HORIZON_GRID:
        return HORIZON_GRID[text]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", text)
    if match:
        frames = round(FPS * float(match.group(1)))
    elif text.isdigit():
        frames = int(text)
    else:
        raise ValueError(f"horizon {name!r}: expected a grid name ({', '.join(HORIZON_GRID)}), "
                         "seconds such as '3s', or a frame count")
    if frames < 1:
        raise ValueError(f"horizon {name!r} is shorter than one frame at {FPS} Hz")
    return frames


def grid_upto(frames: int) -> dict[str, int]:
    """The grid horizons a run of ``frames`` predicted frames reports (plus its own, if off-grid)."""
    out = {name: h for name, h in HORIZON_GRID.items() if h <= frames}
    if frames not in out.values():
        out[f"{frames / FPS:g}s"] = frames
    return out


@dataclass(frozen=True)
class TaskSpec:
    """A task: where its data comes from and the resolution it is scored at."""

    name: str
    dataset_id: str
    resolution: tuple[int, int]  # (height, width) per view, after the protocol resize
    mask_source: str  # "simulator" or "sam"
    mask_version: str
    description: str
    views: tuple[str, ...] = VIEWS
    start_frame: int = 8  # 5 Hz index s0 of every clip (the Ctrl-World replay start)
    num_clips: int | None = None  # None: every eligible episode
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.resolution
        if h <= 0 or w <= 0:
            raise ValueError(f"task {self.name}: resolution must be positive, got {self.resolution}")
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"task {self.name}: unknown views {sorted(unknown)}")


TASKS: dict[str, TaskSpec] = {
    "droid-sim": TaskSpec(
        name="droid-sim",
        dataset_id="pwbench/droid-sim-eval",
        resolution=(96, 160),
        mask_source="simulator",
        mask_version="mujoco-segmentation-v1",
        description="Simulated Franka Panda + Robotiq 2F-85 tabletop episodes (MuJoCo), "
        "shipped with pwbench; runs anywhere.",
    ),
    "droid": TaskSpec(
        name="droid",
        dataset_id="cadene/droid_1.0.1",
        resolution=(192, 320),
        mask_source="sam",
        mask_version="sam-motion-points-v1",  # the rule; each eval set's masks add model and checkpoint
        description="DROID 1.0.1 validation episodes (episode_index % 100 == 99), 256 clips.",
        num_clips=256,
    ),
}

DEFAULT_TASK = "droid-sim"


def metric_settings() -> dict[str, Any]:
    """The metric constants, as stamped into fingerprints and result files."""
    return {
        "psnr_cap_db": PSNR_CAP_DB,
        "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2,
                 "data_range": DATA_RANGE, "gaussian": True, "border_crop": True},
        "lpips": {"net": LPIPS_NET, "version": LPIPS_VERSION, "input_range": [-1, 1]},
        "mask_min_coverage": MASK_MIN_COVERAGE,
        "at_h_window": AT_H_WINDOW,
    }


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the bytes that fingerprints hash."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(task: TaskSpec, manifest: Mapping[str, Any]) -> str:
    """sha256 of everything that makes two results comparable (see docs/protocol.md)."""
    payload = {
        "protocol_version": PROTOCOL_VERSION,
        "task": task.name,
        "manifest": {
            "dataset_id": manifest["dataset_id"],
            "revision": manifest["revision"],
            "clips": [[c["clip_id"], c["start_frame"]] for c in manifest["clips"]],
        },
        "views": list(task.views),
        "fps": FPS,
        "subsample": SUBSAMPLE,
        "resolution": list(task.resolution),
        "resize_rule": RESIZE_RULE,
        "mask_resize_rule": MASK_RESIZE_RULE,
        "metrics": metric_settings(),
        # a dataset without masks scores no masked metric: not comparable with one that has them;
        # SAM masks name their own version (rule, model, checkpoint: pwbench.data.sam.mask_version)
        "mask_version": manifest.get("mask_version", task.mask_version)
        if manifest.get("masks", "available") == "available" else "unavailable",
        "horizon_grid": HORIZON_GRID,
        "regime": REGIME,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def describe() -> dict[str, Any]:
    """A plain-data view of the protocol, for `pwbench ls tasks` and result files."""
    return {
        "protocol_version": PROTOCOL_VERSION,
        "views": list(VIEWS),
        "groups": {k: list(v) for k, v in GROUPS.items()},
        "fps": FPS,
        "horizon_grid": HORIZON_GRID,
        "metrics": metric_settings(),
        "tasks": {name: asdict(t) | {"extra": dict(t.extra)} for name, t in TASKS.items()},
    }
