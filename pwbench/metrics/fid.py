"""Optional FID per horizon and view group, computed with pytorch-fid's own network and formula.

FID compares the *distribution* of predicted frames with that of the ground truth, so it sees
what per-frame PSNR/SSIM/LPIPS cannot (a model that blurs every frame the same way scores a
plausible LPIPS and a poor FID), but it is no protocol metric: it needs third-party weights, its
value depends on how many frames it sees, and it has no per-clip score to bootstrap. So it is
computed only on request (``pwbench fid``), reported in its own section and file, and is never
part of ``summary.json``, the headline table or the fingerprint.

Everything that defines the number is pytorch-fid's, not a re-implementation: the network is
``pytorch_fid.inception.InceptionV3`` (pool3, 2048-d; it resizes to 299 × 299 and rescales to
[-1, 1] itself), its inputs are what pytorch-fid's loader gives it (RGB in [0, 1], NCHW), the
statistics are ``np.mean`` / ``np.cov(rowvar=False)`` in float64 as in
``calculate_activation_statistics``, and the distance is ``calculate_frechet_distance``
(including its ``eps`` offset for a singular covariance product). Only the weights are found
differently: pytorch-fid always downloads them, pwbench loads a file the user gives
(``--inception PATH``) or asks pytorch-fid's own download for it (``--inception download``).
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import warnings
from collections.abc import Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock
from urllib.parse import urlparse

import numpy as np
import pytorch_fid
import torch
import torchvision
from pytorch_fid import inception
from pytorch_fid.fid_score import calculate_frechet_distance

from pwbench.errors import PwbenchError
from pwbench.io import sha256_file

PYTORCH_FID_VERSION: str = pytorch_fid.__version__
DOWNLOAD = "download"  # --inception value: pytorch-fid's own download into torch.hub's cache
POOL3_BLOCK = inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]
DIMS = 2048
MIN_FRAMES = 2  # np.cov needs two samples; below that there is no FID at all
UNBIASED_FRAMES = DIMS  # below this the covariance is singular and FID is biased upward
DEFAULT_BATCH = 32
BIAS_NOTE = (f"FID from fewer than {UNBIASED_FRAMES} frames is biased upward (the {DIMS}-d covariance is singular): "
             "compare it only between runs on the same eval set and horizon, never across eval-set sizes")
# torch.hub names a checkpoint <name>-<first hex digits of its sha256>.<ext>: the official file's hash
OFFICIAL_SHA256_PREFIX = re.search(r"-([0-9a-f]{8,})\.", Path(urlparse(inception.FID_WEIGHTS_URL).path).name).group(1)

ClipFeatures = dict[str, dict[str, np.ndarray]]  # side ("pred" / "gt") -> view -> float32 (H, 2048)


class InceptionWeightsMissing(PwbenchError):
    """The FID Inception weights are not available (offline, or not an FID Inception file)."""


@dataclass(frozen=True)
class InceptionWeights:
    """An FID Inception state dict and the facts fid.json records about it."""

    state: Mapping[str, torch.Tensor]
    sha256: str
    source: str

    @property
    def official(self) -> bool:
        """Whether these are pytorch-fid's released weights, the only ones whose FID is comparable
        with published numbers (a test's random Inception, for one, is not)."""
        return self.sha256.startswith(OFFICIAL_SHA256_PREFIX)


def build_fid_inception_v3() -> torch.nn.Module:
    """The architecture ``pytorch_fid.inception.fid_inception_v3`` builds, without its weights.

    That function always downloads the weights, so its body is mirrored here minus the
    download: torchvision's Inception v3 (1008 classes, no aux head, no weights) with the mixed
    blocks replaced by pytorch-fid's own TF-compatible ones. ``init_weights=False`` skips the
    random init (as pytorch-fid does): every parameter is overwritten by the state dict.
    """
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    net.Mixed_5b = inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = inception.FIDInceptionE_1(1280)
    net.Mixed_7c = inception.FIDInceptionE_2(2048)
    return net


def _download_path() -> Path:
    """Where pytorch-fid's download (torch.hub's ``load_state_dict_from_url``) keeps the file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(inception.FID_WEIGHTS_URL).path).name


def _download() -> Path:
    """pytorch-fid's own download of its weights (a file already in torch.hub's cache is reused)."""
    url = inception.FID_WEIGHTS_URL
    try:
        inception.load_state_dict_from_url(url, progress=True, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        reason = (str(err).splitlines() or [""])[0]
        raise InceptionWeightsMissing(
            f"the FID Inception weights are missing and pytorch-fid could not download them "
            f"({type(err).__name__}: {reason}); on a machine with internet download {url} and pass "
            "--inception PATH") from err
    path = _download_path()
    if not path.is_file():
        raise InceptionWeightsMissing(f"pytorch-fid's download left no file at {path}; download "
                                      f"{url} yourself and pass --inception PATH")
    return path


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a torch file read with ``weights_only=True``
    (a weights file must never be able to run code); errors name the file."""
    if not path.is_file():
        raise InceptionWeightsMissing(f"--inception {path}: no such file (pytorch-fid's weights: "
                                      f"{inception.FID_WEIGHTS_URL}, or --inception {DOWNLOAD})")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # safetensors, zip and unpickling errors share no base class
        reason = (str(err).splitlines() or [""])[0]
        raise InceptionWeightsMissing(f"--inception {path}: unreadable ({type(err).__name__}: {reason})") from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InceptionWeightsMissing(f"--inception {path}: not a state dict (a mapping of tensors)")
    return dict(state)


def load_weights(spec: str) -> InceptionWeights:
    """``spec`` is a weights file or ``"download"``; either way the file is read by one reader
    and its sha256 recorded, so fid.json says exactly which network produced the numbers."""
    path = _download() if spec == DOWNLOAD else Path(spec).expanduser()
    return InceptionWeights(_read_state_dict(path), sha256_file(path), str(path))


def _check_state(net: torch.nn.Module, weights: InceptionWeights) -> None:
    """Refuse a file that is not an FID Inception state dict, in one line. BatchNorm's
    ``num_batches_tracked`` counters are not required: old checkpoints lack them and eval mode
    never reads them."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in weights.state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in weights.state if k not in expected]
    wrong = [k for k in expected if k in weights.state and tuple(weights.state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise InceptionWeightsMissing(
            f"--inception {weights.source}: not pytorch-fid's FID Inception state dict ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} wrongly shaped tensors, e.g. {first})")


def fid_inception(weights: InceptionWeights, device: str = "cpu") -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` (pool3 output, its resize and normalisation) in eval mode,
    running ``weights``.

    ``InceptionV3.__init__`` takes its network from ``fid_inception_v3()``, which downloads; for
    the length of the constructor that function is replaced by one returning the already
    loaded network, so the blocks, forward pass and preprocessing are the package's own.
    """
    net = build_fid_inception_v3()
    _check_state(net, weights)
    net.load_state_dict(dict(weights.state), strict=False)  # strictness checked above, counters aside
    with mock.patch.object(inception, "fid_inception_v3", lambda: net):
        model = inception.InceptionV3([POOL3_BLOCK], resize_input=True, normalize_input=True)
    return model.to(device).eval()


def to_inception_input(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, h, w, 3)`` → float32 ``(N, 3, h, w)`` in [0, 1]: what torchvision's
    ``ToTensor`` gives pytorch-fid's loader (``InceptionV3`` resizes and rescales itself)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).to(torch.float32).div(255)


def distinct_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first occurrence of each distinct frame, and each frame's distinct index.

    Identical frames have identical features, and runs repeat frames a lot (copy-last predicts
    one frame H times, an oracle's prediction is its ground truth), so each is run once."""
    seen: dict[bytes, int] = {}
    first, inverse = [], np.empty(len(frames), dtype=np.int64)
    for i, frame in enumerate(frames):
        key = hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).digest()
        if key not in seen:
            seen[key] = len(first)
            first.append(i)
        inverse[i] = seen[key]
    return np.asarray(first, dtype=np.int64), inverse


@torch.no_grad()
def inception_features(model: torch.nn.Module, frames: np.ndarray, batch: int = DEFAULT_BATCH,
                       device: str = "cpu") -> np.ndarray:
    """pool3 features, float32 ``(N, 2048)``, of uint8 frames ``(N, h, w, 3)``: one forward per
    distinct frame, ``batch`` frames at a time."""
    first, inverse = distinct_frames(frames)
    out = np.empty((len(first), DIMS), dtype=np.float32)
    for lo in range(0, len(first), batch):
        x = to_inception_input(frames[first[lo:lo + batch]]).to(device)
        out[lo:lo + len(x)] = model(x)[0].flatten(1).cpu().numpy()
    return out[inverse]


def clip_features(model: torch.nn.Module, pred: Mapping[str, np.ndarray], gt: Mapping[str, np.ndarray],
                  batch: int = DEFAULT_BATCH, device: str = "cpu") -> ClipFeatures:
    """Features of one clip's predicted and GT frames per view (``(H, h, w, 3)`` each), in one
    batched pass over all of them, so a short clip still fills a batch."""
    parts = [(side, view, frames) for side, views in (("pred", pred), ("gt", gt)) for view, frames in views.items()]
    feats = inception_features(model, np.concatenate([f for _, _, f in parts]), batch, device)
    out: ClipFeatures = {"pred": {}, "gt": {}}
    lo = 0
    for side, view, frames in parts:
        out[side][view] = feats[lo:lo + len(frames)]
        lo += len(frames)
    return out


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance as pytorch-fid's ``calculate_activation_statistics`` computes them."""
    act = np.asarray(features, dtype=np.float64)
    return np.mean(act, axis=0), np.cov(act, rowvar=False)


def frechet_distance(pred: np.ndarray, gt: np.ndarray) -> tuple[float | None, list[str]]:
    """pytorch-fid's Fréchet distance between two feature sets ``(n, d)``, and notes.

    pytorch-fid *prints* when the covariance product is singular (and then adds its ``eps`` to
    the diagonals) and may raise on a large imaginary part; both become notes on the value
    instead of stray output or a crash, so fid.json says which numbers needed them. scipy's
    DeprecationWarning about how pytorch-fid calls ``sqrtm`` is about the call, not the value,
    and is dropped.
    """
    if min(len(pred), len(gt)) < MIN_FRAMES:
        return None, [f"fewer than {MIN_FRAMES} frames: no covariance, no FID"]
    (mu1, sigma1), (mu2, sigma2) = statistics(pred), statistics(gt)
    printed = io.StringIO()
    value: float | None = None
    notes: list[str] = []
    with redirect_stdout(printed), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        try:
            value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
        except ValueError as err:
            notes.append(f"pytorch-fid refused: {err}")
    notes = [f"pytorch-fid: {line.strip()}" for line in printed.getvalue().splitlines() if line.strip()] + notes
    notes += [f"{w.category.__name__}: {w.message}" for w in caught]
    return value, notes


def _stack(clips: list[ClipFeatures], side: str, views: tuple[str, ...], frames: int) -> np.ndarray:
    rows = [c[side][v][:frames] for c in clips for v in views]
    return np.concatenate(rows) if rows else np.empty((0, DIMS), dtype=np.float32)


def fid_per_horizon(clips: list[ClipFeatures], horizons: Mapping[str, int],
                    groups: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, dict]]:
    """``{horizon: {group: {"fid", "n_frames", "notes"}}}`` over predicted frames 1..h (up-to-h)
    of every clip and every view of the group, against the same GT frames."""
    results: dict[str, dict[str, dict]] = {}
    for name, h in horizons.items():
        results[name] = {}
        for group, views in groups.items():
            pred, gt = _stack(clips, "pred", views, h), _stack(clips, "gt", views, h)
            value, notes = frechet_distance(pred, gt)
            results[name][group] = {"fid": value, "n_frames": len(pred), "notes": notes}
    return results
