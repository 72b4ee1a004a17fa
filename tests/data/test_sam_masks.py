"""Segment Anything masks (pwbench.data.sam, pwbench.data.mask_store): the prompt rule on frames
whose motion is known, and the whole path — prepare, cache, fingerprint, run, summary — with a
small randomly initialised SAM of the real architecture (no SAM weights exist offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from droid_mirrors import make_v21
from segment_anything.utils.transforms import ResizeLongestSide

from pwbench import protocol
from pwbench.cli.main import main
from pwbench.data import sam
from pwbench.errors import PwbenchError
from pwbench.testing import tiny_sam

H, W = 96, 160


def moving_square(frames: int = 6, still_from: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames of a bright square moving right on a grey table, and its true masks."""
    video = np.full((frames, H, W, 3), 90, np.uint8)
    truth = np.zeros((frames, H, W), bool)
    for t in range(frames):
        x = 20 + 12 * min(t, still_from if still_from is not None else t)
        truth[t, 30:60, x:x + 30] = True
    video[truth] = 230
    return video, truth


def test_prompts_sit_on_what_moves_and_a_still_scene_has_none():
    video, truth = moving_square()
    energy = sam.motion_energy(video)
    for t in range(len(video)):
        points = sam.prompt_points(energy[t])
        assert 1 <= len(points) <= sam.MAX_POINTS
        near = truth[max(t - 1, 0):t + 2].any(axis=0)  # the square now or one frame away
        assert all(near[y, x] for x, y in points), (t, points)
        gaps = [np.hypot(*(a - b)) for i, a in enumerate(points) for b in points[i + 1:]]
        assert all(g >= sam.SEPARATION_FRACTION * W for g in gaps)
    assert np.array_equal(sam.prompt_points(energy[2]), sam.prompt_points(energy[2].copy()))  # deterministic
    still = np.repeat(video[:1], 4, axis=0)
    assert all(len(sam.prompt_points(e)) == 0 for e in sam.motion_energy(still))


class StubPredictor:
    """SamPredictor's interface; for every point it proposes the whole frame, the connected
    bright blob under the point, and a still patch, with the blob scored best unless told."""

    device = torch.device("cpu")

    def __init__(self, best: int = 1) -> None:
        self.transform = ResizeLongestSide(64)
        self.best = best

    def set_image(self, image, image_format="RGB"):
        self.image = image

    def predict_torch(self, coords, labels, multimask_output=True):
        from scipy import ndimage

        scale = max(self.image.shape[:2]) / 64
        bright = self.image.max(axis=-1) > 150
        blobs, _ = ndimage.label(bright)
        masks, scores = [], []
        for x, y in (coords[:, 0] * scale).round().long().tolist():
            blob = blobs == blobs[min(y, H - 1), min(x, W - 1)] if bright[min(y, H - 1), min(x, W - 1)] else bright
            corner = np.zeros_like(bright)
            corner[80:, 140:] = True
            masks.append(np.stack([np.ones_like(bright), blob, corner]))
            s = np.full(3, 0.1)
            s[self.best] = 0.9
            scores.append(s)
        return torch.as_tensor(np.array(masks)), torch.as_tensor(np.array(scores)), None


def test_the_rule_keeps_the_moving_object_and_rejects_the_table_and_still_patches():
    video, truth = moving_square()
    masks = sam.SamMasker(StubPredictor(best=1)).view_masks(video)
    assert np.array_equal(masks, truth)
    assert not sam.SamMasker(StubPredictor(best=0)).view_masks(video).any()  # the whole frame: > MAX_AREA
    assert not sam.SamMasker(StubPredictor(best=2)).view_masks(video).any()  # never moves in the clip
    video, truth = moving_square(still_from=3)  # the object stops: masked while it moves
    masks = sam.SamMasker(StubPredictor(best=1)).view_masks(video)
    assert masks[:4].any(axis=(1, 2)).all() and not masks[5].any()


def test_mask_iou():
    a = np.zeros((3, 4, 4), bool)
    b = a.copy()
    a[0, :2], b[0, :1] = True, True  # 4 / 8
    a[1], b[1] = True, True  # 1
    assert sam.mask_iou(a, b) == pytest.approx(0.75)  # frame 2 is empty in both: left out
    assert sam.mask_iou(a[2:], b[2:]) is None


def test_the_droid_task_names_the_rule():
    assert protocol.TASKS["droid"].mask_version == f"sam-{sam.PROMPT_RULE}"


# --- the whole path, with a small random SAM -------------------------------------------------------

@pytest.fixture
def tiny_checkpoint(tmp_path, monkeypatch) -> Path:
    """A tiny SAM's weights on disk; the vit_b builder builds the tiny architecture, so the
    checkpoint goes through the real loading path (weights-only torch.load, strict keys)."""
    monkeypatch.setattr(sam, "build_sam", lambda model_type: tiny_sam(seed=1))
    path = tmp_path / "tiny_sam.pth"
    torch.save(tiny_sam(seed=0).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    return make_v21(tmp_path_factory.mktemp("sam") / "v21")


def cli(*args) -> int:
    return main([str(a) for a in args])


def test_sam_masks_are_prepared_cached_fingerprinted_and_scored(mirror, tiny_checkpoint, tmp_path, capsys,
                                                                 monkeypatch):
    # a random SAM's masks are arbitrary: let every one through, so that the scored path has masks
    monkeypatch.setattr(sam, "MAX_AREA", 1.0)
    monkeypatch.setattr(sam, "MIN_IN_MOTION", 0.0)
    args = ("--task", "droid", "--data", mirror, "--horizon", "1s")
    assert cli("run", "--model", "copy-last", *args, "--clips", "1", "--quiet", "--out", tmp_path / "plain") == 0
    assert "no object masks" in capsys.readouterr().err
    assert cli("data", "prepare", *args, "--sam-checkpoint", tiny_checkpoint, "--quiet") == 0
    said = capsys.readouterr().out
    version = sam.mask_version("vit_b", sam.checkpoint_digest(tiny_checkpoint))
    assert f"SAM masks {version} (exterior_1_left, exterior_2_left): 2/2 clips" in said, said

    assert cli("run", "--model", "copy-last", *args, "--clips", "1", "--quiet", "--save-predictions",
               "--out", tmp_path / "sam") == 0
    err = capsys.readouterr().err
    assert "wrist_left has no masked or background metrics" in err, err
    plain, run = (json.loads((tmp_path / d / "run.json").read_text()) for d in ("plain", "sam"))
    assert run["masks"] == "available" and plain["masks"] == "unavailable"
    assert run["dataset"]["mask_version"] == version
    assert run["dataset"]["mask_views"] == list(sam.MASK_VIEWS)
    assert run["fingerprint"] != plain["fingerprint"]
    record = json.loads((tmp_path / "sam/clips/ep000099-s008.json").read_text())
    assert all(v is None for v in record["metrics"]["wrist_left"]["psnr_masked"])
    assert any(v is not None for v in record["metrics"]["exterior_1_left"]["psnr_masked"])
    assert record["metrics"]["exterior_1_left"]["psnr_full"] == \
        json.loads((tmp_path / "plain/clips/ep000099-s008.json").read_text())["metrics"]["exterior_1_left"]["psnr_full"]
    summary = json.loads((tmp_path / "sam/summary.json").read_text())
    assert "SAM's" in summary["mask_note"] and summary["results"]["1s"]["Wrist"]["psnr_masked"]["up_to"]["mean"] is None
    assert cli("score", tmp_path / "sam", "--out", tmp_path / "rescored") == 0  # the masks travel with the run
    assert json.loads((tmp_path / "rescored/run.json").read_text())["fingerprint"] == run["fingerprint"]
    other = tmp_path / "other-folder"  # the same layout (so the same dataset id), another revision: no masks
    shutil.copytree(mirror, other)
    (next(other.glob("videos/**/*.mp4")).parent / "notes.txt").write_text("one more file, other bytes")
    assert cli("run", "--model", "copy-last", "--task", "droid", "--data", other, "--horizon", "1s", "--clips", "1",
               "--quiet", "--out", tmp_path / "other") == 0
    assert json.loads((tmp_path / "other/run.json").read_text())["masks"] == "unavailable"


def test_a_changed_or_partial_mask_cache_is_refused(mirror, tiny_checkpoint, tmp_path, capsys, private_cache):
    args = ("--task", "droid", "--data", mirror, "--horizon", "1s")
    assert cli("data", "prepare", *args, "--sam-checkpoint", tiny_checkpoint, "--quiet") == 0
    capsys.readouterr()
    store = next((private_cache / "droid" / "sam-masks").glob("*/sam-vit_b-*"))
    mask_file = store / "ep000099-s008.npz"
    saved = mask_file.read_bytes()
    mask_file.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
    assert cli("run", "--model", "copy-last", *args, "--clips", "1", "--quiet", "--out", tmp_path / "a") == 3
    record = json.loads((tmp_path / "a/clips/ep000099-s008.json").read_text())
    assert "sha256 differs" in record["error"]  # that clip fails, with the file named
    mask_file.unlink()  # an interrupted prepare: the run is refused, naming the command that finishes it
    assert cli("run", "--model", "copy-last", *args, "--quiet", "--out", tmp_path / "b") == 2
    assert "cover 1 of this run's 2 clips" in capsys.readouterr().err


def test_on_droid_sim_sam_is_measured_against_the_exact_masks(tiny_checkpoint, capsys):
    from pwbench.runner import RunConfig, prepare_eval_set

    task = protocol.TASKS["droid-sim"]
    evalset = prepare_eval_set(task, RunConfig(model="copy-last", clips=1, horizon="1s"))
    evalset.prepare(5, progress=False)
    info = sam.prepare_masks(evalset, str(tiny_checkpoint), progress=False)
    assert set(info["iou_vs_exact"]) == set(sam.MASK_VIEWS)
    assert all(0 <= row["mean"] <= 1 and row["clips"] == 1 for row in info["iou_vs_exact"].values())
    again = prepare_eval_set(task, RunConfig(model="copy-last", clips=1, horizon="1s"))
    assert again.fingerprint == evalset.fingerprint and "mask_version" not in again.manifest  # exact masks stay


def test_checkpoint_errors_are_one_line(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(PwbenchError, match="hf download owner/sam sam_vit_b_01ec64.pth"):
        sam.resolve_checkpoint("hf:owner/sam/sam_vit_b_01ec64.pth")
    with pytest.raises(PwbenchError, match="not found.*model-checkpoints"):
        sam.resolve_checkpoint(str(tmp_path / "missing.pth"))
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    monkeypatch.setattr(sam, "build_sam", lambda model_type: tiny_sam())
    with pytest.raises(PwbenchError, match="is not a SAM vit_b checkpoint"):
        sam.load_predictor(other, "vit_b")
    shutil.rmtree(tmp_path / "hub", ignore_errors=True)
