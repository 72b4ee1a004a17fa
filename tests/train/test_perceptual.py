"""The perceptual term (``pwbench.train.perceptual``, ``--perceptual-weight``): LPIPS of the
decoded x0 estimate, by hand; gradients reach the estimate and nothing else; the setting is
typed, recorded, refused on a changed resume and refused by families without the term."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import lpips
import pytest
import torch

from pwbench.diffusion.codec import MultiViewCodec, PatchPCAAutoencoder, codec_for
from pwbench.errors import PwbenchError
from pwbench.train.config import TrainConfig
from pwbench.train.perceptual import PerceptualLoss


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    """An LPIPS network of the real architecture and heads with a random (seeded) backbone."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lpips.LPIPS(pretrained=True, net="alex", pnet_rand=True, verbose=False).eval()


def _codec() -> MultiViewCodec:
    torch.manual_seed(1)
    pca = PatchPCAAutoencoder(latent_channels=12, patch=4, whiten=False)
    pca.basis.copy_(torch.linalg.qr(torch.randn(48, 48))[0][:12])
    pca.scaling_factor.fill_(0.5)
    return MultiViewCodec(codec_for(pca), num_views=2)


def test_decode_with_grad_equals_decode_and_carries_gradients() -> None:
    codec = _codec()
    lat = torch.randn(3, 12, 2 * 16, 16, requires_grad=True)
    out = codec.decode_views_with_grad(lat)
    torch.testing.assert_close(out, codec.decode_views(lat.detach()))
    assert out.requires_grad and not codec.decode_views(lat).requires_grad
    out.square().sum().backward()
    assert lat.grad is not None and lat.grad.abs().sum() > 0


def test_loss_is_lpips_of_the_clamped_decoded_frames(network) -> None:
    codec = _codec()
    loss = PerceptualLoss(codec.decode_views_with_grad, weight=2.0, network=network)
    pred = (torch.randn(2, 3, 12, 32, 16) * 3).requires_grad_(True)  # decodes partly outside [-1, 1]
    target = torch.randn(2, 3, 12, 32, 16)
    value = loss(pred, target)

    def frames(x: torch.Tensor) -> torch.Tensor:  # (B, F, ...) -> every view of every frame
        return codec.decode_views(x.detach().flatten(0, 1)).flatten(0, 1).clamp(-1, 1)

    assert frames(pred).shape == (2 * 3 * 2, 3, 64, 64)
    by_hand = network(frames(pred), frames(target)).mean()
    torch.testing.assert_close(value, by_hand)
    assert value.item() > 0 and loss.weight == 2.0  # the caller weighs it
    torch.testing.assert_close(loss(target, target), torch.zeros(()), atol=1e-6, rtol=0)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in network.parameters())  # the LPIPS network never trains


def test_loss_refuses_bad_input(network) -> None:
    codec = _codec()
    with pytest.raises(ValueError, match="positive weight"):
        PerceptualLoss(codec.decode_views_with_grad, weight=0.0, network=network)
    loss = PerceptualLoss(codec.decode_views_with_grad, weight=1.0, network=network)
    with pytest.raises(ValueError, match="differ in shape"):
        loss(torch.zeros(1, 2, 12, 32, 16), torch.zeros(1, 3, 12, 32, 16))


def test_weight_is_a_checked_run_setting() -> None:
    config = TrainConfig(perceptual_weight=2.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert TrainConfig.from_dict({"steps": 3}).perceptual_weight == 0.0  # checkpoints older than the field
    assert "perceptual_weight" in config.differences(TrainConfig())  # refused on resume
    with pytest.raises(ValueError, match="perceptual_weight"):
        TrainConfig(perceptual_weight=-1.0)


@pytest.mark.parametrize("family", ["ctrl-world", "irasim", "wpe"])
def test_a_family_trains_with_the_term_and_logs_both_parts(family: str, tiny_dataset: Path, tmp_path: Path) -> None:
    if family == "ctrl-world":
        from baselines.ctrl_world.train import main
    elif family == "irasim":
        from baselines.irasim.train import main
    else:
        from baselines.wpe.train import main

    out = tmp_path / "run"
    args = ["--task", "droid-sim", "--data", str(tiny_dataset), "--out", str(out), "--batch-size", "2",
            "--max-episodes", "3", "--val-episodes", "1", "--warmup", "1"]
    assert main(args + ["--steps", "2", "--perceptual-weight", "0.5"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:  # the optimised loss is the x0 loss plus the weighted LPIPS
        assert r["lpips"] > 0 and r["loss"] == pytest.approx(r["x0_loss"] + 0.5 * r["lpips"], rel=1e-5)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["config"]["perceptual_weight"] == 0.5
    with pytest.raises(PwbenchError, match="perceptual_weight"):  # another weight on resume
        main(args + ["--steps", "3", "--resume", "--perceptual-weight", "1"])
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    assert json.loads((dest / "training.json").read_text())["perceptual_weight"] == 0.5
