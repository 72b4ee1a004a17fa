"""LPIPS (AlexNet, lin heads v0.1), split into reusable steps.

.. math::

    d(x, y) = \\sum_{l=1}^{5} \\frac{1}{h_l w_l} \\sum_{i,j}
              w_l^\\top \\big(\\hat f_l^{x}(i,j) - \\hat f_l^{y}(i,j)\\big)^{\\odot 2}

where :math:`\\hat f_l` are AlexNet's relu1…relu5 activations of the scaled input, unit-normalised
along channels, and :math:`w_l` the v0.1 linear heads. The spatial variant upsamples each layer's
map :math:`w_l^\\top(\\cdot)^{\\odot 2}` bilinearly (``align_corners=False``) to H×W and sums them,
as ``lpips.LPIPS(spatial=True)`` does.

The ``lpips`` package provides the architecture and its shipped heads; we load the real ImageNet
backbone ourselves (see :mod:`.lpips_weights`) and run the pieces separately so that one
backbone pass per frame serves the full-frame value, the spatial map (masked / background
variants) and — for ground truth — a feature cache. The reference ``lpips`` forward would run
AlexNet on both images for every variant.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lpips as lpips_pkg
import torch
import torch.nn.functional as F
from torch import nn

from pwbench import protocol
from pwbench.metrics.frames import region_means, to_signed
from pwbench.metrics.lpips_weights import load_alexnet_backbone

Features = list[torch.Tensor]  # one (N, C_l, h_l, w_l) tensor per AlexNet layer, unit-normalised


def load_backbone(model: lpips_pkg.LPIPS, state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision-named AlexNet weights (``features.{i}.*``) into an ``lpips.LPIPS`` model.

    lpips splits ``alexnet.features`` into ``slice1…slice5`` but keeps each module's index as
    its name (``slice2.3`` is ``features.3``), which gives the mapping. ``strict=True`` makes a
    future change of that layout fail loudly instead of leaving a random layer behind.
    """
    mapped: dict[str, torch.Tensor] = {}
    for name, module in model.net.named_modules():
        if isinstance(module, nn.Conv2d):
            index = name.rsplit(".", 1)[-1]
            mapped[f"{name}.weight"] = state[f"features.{index}.weight"]
            mapped[f"{name}.bias"] = state[f"features.{index}.bias"]
    model.net.load_state_dict(mapped, strict=True)


def build_lpips_model(device: torch.device | str = "cpu",
                      cache: Path | None = None) -> tuple[lpips_pkg.LPIPS, str]:
    """``lpips.LPIPS`` (alex, v0.1 heads) with the real backbone, in eval mode; and its source.

    ``pnet_rand=True`` keeps lpips from downloading torchvision weights; the random backbone it
    builds is overwritten by :func:`load_backbone` before the model is returned.
    """
    with warnings.catch_warnings():  # torchvision's `pretrained=` deprecation chatter
        warnings.simplefilter("ignore")
        model = lpips_pkg.LPIPS(pretrained=True, net=protocol.LPIPS_NET, version=protocol.LPIPS_VERSION,
                                pnet_rand=True, verbose=False)
    state, source = load_alexnet_backbone(cache)
    load_backbone(model, state)
    model.eval().requires_grad_(False)
    return model.to(device=device, memory_format=torch.channels_last), source


def features(model: lpips_pkg.LPIPS, x: torch.Tensor) -> Features:
    """Unit-normalised backbone activations of ``(N, 3, H, W)`` frames in [-1, 1]."""
    return _backbone(model, model.scaling_layer(x))


def frame_features(model: lpips_pkg.LPIPS, frames: torch.Tensor, device: torch.device | str) -> Features:
    """:func:`features` of uint8 ``(N, H, W, 3)`` frames, with every input step done in place on
    one buffer: ``x / 127.5 - 1`` (:func:`to_signed`), then the scaling layer's ``(x - shift) /
    scale`` — the reference's operations in its order, so the same bits, without its temporaries."""
    scaling = model.scaling_layer
    return _backbone(model, to_signed(frames, device).sub_(scaling.shift).div_(scaling.scale))


def _backbone(model: lpips_pkg.LPIPS, x: torch.Tensor) -> Features:
    """Runs channels-last (oneDNN's native layout on CPU: no reorder around each conv, a
    vectorised max-pool): 12% faster on the test machine, and LPIPS moves by ~2e-8 compared
    with the reference NCHW forward, far inside the 1e-5 the tests demand."""
    x = x.contiguous(memory_format=torch.channels_last)  # a no-op for frame_features' input
    return [_unit_normalise_(f) for f in model.net(x)]


def _unit_normalise_(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """``lpips.normalize_tensor`` (the same operations, so the same bits), in place: the
    activations are fresh tensors nobody else holds, and skipping a copy of each matters."""
    return f.div_(torch.sum(f * f, dim=1, keepdim=True).sqrt_().add_(eps))


def layer_maps(model: lpips_pkg.LPIPS, feats_pred: Features, feats_gt: Features) -> list[torch.Tensor]:
    """Per-layer distance maps ``(N, 1, h_l, w_l)``: the lin heads applied to squared differences."""
    return [lin((a - b).square_()) for lin, a, b in zip(model.lins, feats_pred, feats_gt, strict=True)]


def from_layer_maps(maps: list[torch.Tensor]) -> torch.Tensor:
    """Full-frame LPIPS ``(N,)`` float64: sum over layers of each map's spatial mean.

    Summed in float32 in layer order, as lpips does, and only then widened, so values match the
    reference package to float32 rounding.
    """
    total = maps[0].mean((2, 3), keepdim=True)
    for m in maps[1:]:
        total = total + m.mean((2, 3), keepdim=True)
    return total.flatten().to(torch.float64)


def spatial_map(maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """LPIPS map ``(N, H, W)``: every layer map upsampled bilinearly to ``size`` and summed."""
    total = F.interpolate(maps[0], size=size, mode="bilinear", align_corners=False)
    for m in maps[1:]:
        total = total + F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    return total[:, 0]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-frame mean of an ``(N, H, W)`` map over a bool mask, float64 (NaN if the mask is empty)."""
    return region_means(values, mask)[1]


def lpips(model: lpips_pkg.LPIPS, pred: torch.Tensor, gt: torch.Tensor,
          mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame LPIPS (float64 ``(N,)``) of ``(N, 3, H, W)`` frames in [-1, 1].

    Without ``mask`` this is the full-frame value; with a bool ``(N, H, W)`` mask it is the
    mask-weighted mean of the spatial map. For repeated scoring use :class:`FrameScorer`.
    """
    maps = layer_maps(model, features(model, pred), features(model, gt))
    if mask is None:
        return from_layer_maps(maps)
    return masked_mean(spatial_map(maps, (pred.shape[2], pred.shape[3])), mask)
