"""The perceptual term (``pwbench.train.perceptual``, ``--perceptual-weight``): LPIPS of the
decoded x0 estimate, by hand; gradients reach the estimate and nothing else; the setting is
typed, recorded and refused on a changed resume; ``--perceptual-frames`` scores a drawn subset
of each window's frames."""

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


def test_a_frame_subset_scores_the_same_drawn_frames_of_each_window(network) -> None:
    codec = _codec()
    loss = PerceptualLoss(codec.decode_views_with_grad, weight=1.0, network=network, frames=2)
    pred, target = torch.randn(3, 5, 12, 32, 16), torch.randn(3, 5, 12, 32, 16)
    a, b = loss.subset(pred, target, torch.Generator().manual_seed(7))
    assert a.shape == b.shape == (3, 2, 12, 32, 16)
    order = torch.rand(3, 5, generator=torch.Generator().manual_seed(7)).argsort(dim=1)[:, :2]
    for row in range(3):  # each window's own draw, without replacement, the same slots in both
        torch.testing.assert_close(a[row], pred[row, order[row]])
        torch.testing.assert_close(b[row], target[row, order[row]])
    assert len(set(order[0].tolist())) == 2
    again = loss.subset(pred, target, torch.Generator().manual_seed(7))
    torch.testing.assert_close(again[0], a)  # reproducible from the training generator
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    whole = PerceptualLoss(codec.decode_views_with_grad, weight=1.0, network=network, frames=5)
    assert whole.subset(pred, target, gen)[0] is pred  # N >= F: every frame ...
    assert torch.equal(gen.get_state(), state)  # ... and no draw, so the random stream is unchanged
    with pytest.raises(ValueError, match="training generator"):
        loss.subset(pred, target, None)
    with pytest.raises(ValueError, match="at least 1 frame"):
        PerceptualLoss(codec.decode_views_with_grad, weight=1.0, network=network, frames=0)


def test_weight_is_a_checked_run_setting() -> None:
    config = TrainConfig(perceptual_weight=2.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.as_dict()))) == config
    assert TrainConfig.from_dict({"steps": 3}).perceptual_weight == 0.0  # checkpoints older than the field
    assert "perceptual_weight" in config.differences(TrainConfig())  # refused on resume
    with pytest.raises(ValueError, match="perceptual_weight"):
        TrainConfig(perceptual_weight=-1.0)
    assert TrainConfig.from_dict({"steps": 3}).perceptual_frames is None  # older checkpoints: all frames
    assert "perceptual_frames" in TrainConfig(perceptual_frames=4).differences(TrainConfig())
    with pytest.raises(ValueError, match="perceptual_frames"):
        TrainConfig(perceptual_frames=0)


def test_irasim_trains_with_a_frame_subset_and_records_it(tiny_dataset: Path, tmp_path: Path) -> None:
    """IRASim predicts 15 frames per window; --perceptual-frames 4 scores 4 of them, as many as
    Ctrl-World's and WPE's chunks hold."""
    from baselines.irasim.train import main

    out = tmp_path / "run"
    args = ["--task", "droid-sim", "--data", str(tiny_dataset), "--out", str(out), "--batch-size", "2",
            "--max-episodes", "3", "--val-episodes", "1", "--warmup", "1", "--perceptual-weight", "0.5"]
    assert main(args + ["--steps", "2", "--perceptual-frames", "4"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["lpips"] > 0 for r in rows)
    assert torch.load(out / "checkpoint.pt", weights_only=True)["config"]["perceptual_frames"] == 4
    with pytest.raises(PwbenchError, match="perceptual_frames"):  # another subset on resume
        main(args + ["--steps", "3", "--resume"])
    dest = tmp_path / "weights"
    assert main(["--out", str(out), "--export", str(dest)]) == 0
    assert json.loads((dest / "training.json").read_text())["perceptual_frames"] == 4


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
