"""Optional FID (pwbench.metrics.fid, `pwbench fid`) with a seeded random FID Inception.

The real weights are a download, so every test runs a randomly initialised network of the same
architecture, saved to a .pth and loaded through ``--inception PATH`` like a user's file. Inception
at 299 × 299 costs ~0.2 s a frame on one CPU core, so frame counts are tiny; and pytorch-fid's
2048-d matrix square root costs ~20 s, so the end-to-end tests swap in ``low_rank_frechet`` (exact
for fewer frames than dimensions, and checked here against pytorch-fid on the same features).
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from pytorch_fid import inception
from pytorch_fid.fid_score import calculate_frechet_distance

from pwbench.cli.main import main
from pwbench.io import sha256_file
from pwbench.metrics import fid

HORIZON = "1s"  # a grid horizon: 5 frames
FRAMES = 5
CLIPS = 2


def cli(*args: object) -> int:
    return main([str(a) for a in args])


def low_rank_frechet(pred: np.ndarray, gt: np.ndarray) -> tuple[float, list[str]]:
    """The Fréchet distance without a d × d square root, for n < d frames: with centred features
    A, B, Tr sqrt(Σ1 Σ2) is the nuclear norm of A Bᵀ over sqrt((n1 - 1)(n2 - 1)) (Σ1 Σ2 shares
    its non-zero eigenvalues with (A Bᵀ)(A Bᵀ)ᵀ)."""
    a, b = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    ca, cb = a - a.mean(0), b - b.mean(0)
    na, nb = len(a) - 1, len(b) - 1
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (ca ** 2).sum() / na + (cb ** 2).sum() / nb - 2 * cross), []


def scene(k: int) -> np.ndarray:
    """A structured 96 × 160 RGB frame (stripes and gradients that differ with k)."""
    yy, xx = np.mgrid[0:96, 0:160]
    return np.stack([(xx * (k + 1) * 2) % 256, (yy * 3 + k * 40) % 256, ((xx + yy) * k) % 256], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded random FID Inception, saved like pytorch-fid's file. Kaiming-normal convolutions
    keep activations O(1) through the ~50 layers (PyTorch's default init shrinks them to ~1e-8)."""
    torch.manual_seed(0)
    net = fid.build_fid_inception_v3()
    for module in net.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def model(weights_file: Path) -> torch.nn.Module:
    torch.set_num_threads(1)
    return fid.fid_inception(fid.load_weights(str(weights_file)))


@pytest.fixture(scope="module")
def frame_sets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    gt = np.stack([scene(k) for k in range(4)])
    noisy = np.clip(gt.astype(np.int16) + rng.integers(-20, 21, gt.shape), 0, 255).astype(np.uint8)
    shuffled = np.stack([f.reshape(-1, 3)[rng.permutation(96 * 160)].reshape(gt.shape[1:]) for f in gt])
    return {"gt": gt, "noisy": noisy, "shuffled": shuffled}


@pytest.fixture(scope="module")
def features(model: torch.nn.Module, frame_sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    stacked = fid.inception_features(model, np.concatenate(list(frame_sets.values())), batch=8)
    return dict(zip(frame_sets, np.split(stacked, len(frame_sets)), strict=True))


def test_features_equal_pytorch_fids_inception(weights_file, features, frame_sets, monkeypatch):
    """(a) pwbench's features = pytorch-fid's own InceptionV3 (its fid_inception_v3, download
    stubbed to return the same state dict) on its own ToTensor inputs."""
    state = torch.load(weights_file, weights_only=True)
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: state)
    reference = inception.InceptionV3([inception.InceptionV3.DEFAULT_BLOCK_INDEX]).eval()
    x = torch.stack([torchvision.transforms.ToTensor()(f) for f in frame_sets["gt"][:2]])
    with torch.no_grad():
        expected = reference(x)[0].squeeze(3).squeeze(2).numpy()
    assert features["gt"].shape == (4, 2048) and features["gt"].std(0).mean() > 1e-3  # alive, not collapsed
    np.testing.assert_allclose(features["gt"][:2], expected, atol=1e-5, rtol=1e-5)


def test_safetensors_weights_load_the_same_tensors(weights_file, tmp_path):
    from safetensors.torch import save_file

    pth = fid.load_weights(str(weights_file))
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in pth.state.items()}, str(path))
    st = fid.load_weights(str(path))
    assert st.state.keys() == pth.state.keys() and all(torch.equal(st.state[k], pth.state[k]) for k in st.state)
    assert len(st.sha256) == 64 and st.sha256 != pth.sha256 and not st.official


def test_duplicate_frames_run_once(model, frame_sets, monkeypatch):
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x: calls.append(len(x)) or forward(x))
    repeated = np.repeat(frame_sets["gt"][:1], 3, axis=0)
    out = fid.inception_features(model, repeated, batch=8)
    assert calls == [1] and np.array_equal(out[0], out[2])


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # the reference call's singular 64-d product
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # scipy's notice on how pytorch-fid calls sqrtm
def test_frechet_distance_is_pytorch_fids(features):
    """(b) FD = pytorch-fid's calculate_frechet_distance on np.mean / np.cov(rowvar=False) of the
    same features (on 64 of the dimensions: a 2048-d sqrtm takes ~20 s); the fast exact form the
    end-to-end tests use agrees with both."""
    gt, shuffled = features["gt"][:, :64].astype(np.float64), features["shuffled"][:, :64].astype(np.float64)
    expected = calculate_frechet_distance(shuffled.mean(0), np.cov(shuffled, rowvar=False),
                                          gt.mean(0), np.cov(gt, rowvar=False))
    value, notes = fid.frechet_distance(features["shuffled"][:, :64], features["gt"][:, :64])
    assert value == pytest.approx(expected, rel=1e-9)
    assert low_rank_frechet(shuffled, gt)[0] == pytest.approx(expected, rel=1e-6)
    assert all(isinstance(n, str) for n in notes)  # singular 64-d covariances: recorded, not printed
    assert fid.frechet_distance(gt[:1], gt[:1]) == (None, ["fewer than 2 frames: no covariance, no FID"])


def test_fid_orders_identical_noisy_shuffled(features):
    """(b) identical sets give ~0; GT with mild pixel noise is closer than pixel-shuffled GT."""
    same = fid.frechet_distance(features["gt"][:, :64], features["gt"][:, :64])[0]
    assert abs(same) < 1e-6
    full = {k: low_rank_frechet(features[k], features["gt"])[0] for k in ("gt", "noisy", "shuffled")}
    assert abs(full["gt"]) < 1e-4 < full["noisy"] < full["shuffled"]


def test_singular_warning_becomes_a_note(monkeypatch):
    def printing(*args, **kwargs):
        print("fid calculation produces singular product; adding 1e-06 to diagonal of cov estimates")
        return 1.5

    monkeypatch.setattr(fid, "calculate_frechet_distance", printing)
    value, notes = fid.frechet_distance(np.eye(3), np.eye(3))
    assert value == 1.5 and notes == ["pytorch-fid: fid calculation produces singular product; adding 1e-06 "
                                      "to diagonal of cov estimates"]


# End to end ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """copy-last and oracle runs with saved predictions on the shipped droid-sim split. The
    eval-set cache is the session's (conftest's session_cache)."""
    base = tmp_path_factory.mktemp("fid-runs")
    out = {}
    for model_name, clips in (("copy-last", CLIPS), ("oracle", 1)):
        out[model_name] = base / model_name
        assert cli("run", "--model", model_name, "--save-predictions", "--clips", clips, "--horizon", HORIZON,
                   "--out", out[model_name], "--quiet") == 0
    return out


@pytest.fixture
def fast_frechet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fid, "frechet_distance", low_rank_frechet)


def test_cli_writes_fid_json(runs, weights_file, fast_frechet, capsys):
    """(c) fid.json: the run's fingerprint, the weights' sha256, every horizon × group with
    n_frames = clips × frames × views; summary.json untouched; `pwbench status` shows the section."""
    run = runs["copy-last"]
    before = (run / "summary.json").read_bytes()
    assert cli("fid", run, "--inception", weights_file, "--batch", 16, "--quiet") == 0
    out = capsys.readouterr().out
    assert "FID (optional, n frames)" in out and "NOT pytorch-fid's weights" in out and "biased" in out
    report = json.loads((run / "fid.json").read_text())
    manifest = json.loads((run / "run.json").read_text())
    assert report["schema"] == "pwbench.fid/1" and report["fingerprint"] == manifest["fingerprint"]
    assert report["inception"]["sha256"] == sha256_file(weights_file) and report["inception"]["official"] is False
    assert report["pytorch_fid_version"] == fid.PYTORCH_FID_VERSION
    assert report["clips"] == {"total": CLIPS, "used": CLIPS, "failed": 0} and len(report["clip_ids"]) == CLIPS
    assert report["horizons"] == [HORIZON] and set(report["groups"]) == {"External", "Wrist"}
    for group, views in (("External", 2), ("Wrist", 1)):
        cell = report["results"][HORIZON][group]
        assert cell["n_frames"] == CLIPS * FRAMES * views and cell["fid"] > 0
    assert (run / "summary.json").read_bytes() == before
    assert cli("status", run) == 0
    assert "FID (optional, n frames)" in capsys.readouterr().out


def test_oracle_fid_is_zero(runs, weights_file, fast_frechet, capsys):
    """(c) an oracle's predictions are its ground truth: FID ≈ 0 in every cell."""
    assert cli("fid", runs["oracle"], "--inception", weights_file, "--quiet") == 0
    report = json.loads((runs["oracle"] / "fid.json").read_text())
    for cell in report["results"][HORIZON].values():
        assert abs(cell["fid"]) < 1e-3


def test_failed_clips_are_left_out_and_counted(runs, weights_file, tmp_path, capsys):
    """A clip without its prediction file is excluded from every FID, listed, and exit 3."""
    run = tmp_path / "oracle-without-predictions"
    shutil.copytree(runs["oracle"], run)
    (missing,) = (run / "predictions").glob("*.npz")
    missing.unlink()
    assert cli("fid", run, "--inception", weights_file, "--quiet") == 3
    report = json.loads((run / "fid.json").read_text())
    assert report["clips"] == {"total": 1, "used": 0, "failed": 1} and report["clip_ids"] == []
    assert missing.name in report["failures"][0]["error"]
    assert report["results"][HORIZON]["External"] == {"fid": None, "n_frames": 0,
                                                      "notes": ["fewer than 2 frames: no covariance, no FID"]}
    assert "n/a (n=0)" in capsys.readouterr().out


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_run_without_predictions_is_a_one_line_error(runs, weights_file, tmp_path, capsys):
    """(d) a run folder without predictions/: exit 2, naming the folder and the fix."""
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(runs["copy-last"] / "run.json", bare / "run.json")
    assert cli("fid", bare, "--inception", weights_file) == 2
    err = one_line_error(capsys)
    assert str(bare) in err and "--save-predictions" in err


def test_offline_download_is_a_one_line_error(runs, monkeypatch, capsys):
    """(e) --inception download without a network: exit 2, with the URL and --inception PATH."""
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(inception, "load_state_dict_from_url", offline)
    assert cli("fid", runs["copy-last"], "--inception", "download") == 2
    err = one_line_error(capsys)
    assert inception.FID_WEIGHTS_URL in err and "--inception PATH" in err and "missing" in err


def test_foreign_weights_file_is_a_one_line_error(runs, tmp_path, capsys):
    path = tmp_path / "alexnet.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    assert cli("fid", runs["copy-last"], "--inception", path) == 2
    assert "not pytorch-fid's FID Inception state dict" in one_line_error(capsys)


def test_missing_pytorch_fid_says_how_to_install(runs, weights_file, monkeypatch, capsys):
    import pwbench.metrics

    monkeypatch.setitem(sys.modules, "pytorch_fid", None)
    monkeypatch.delitem(sys.modules, "pwbench.metrics.fid")
    monkeypatch.delattr(pwbench.metrics, "fid", raising=False)
    assert cli("fid", runs["copy-last"], "--inception", weights_file) == 2
    assert "pip install pytorch-fid" in one_line_error(capsys)
