import pytest

from pwbench import protocol
from pwbench.data import hub
from pwbench.data.tasks import get_task, local_revision, open_dataset
from pwbench.errors import DatasetError, PwbenchError


def test_droid_offline_error_says_what_and_how(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetError) as err:
        open_dataset(protocol.TASKS["droid"], None)
    message = str(err.value)
    assert "cadene/droid_1.0.1" in message
    assert "huggingface-cli download cadene/droid_1.0.1 --repo-type dataset" in message
    assert "--data DROID_DIR" in message


def test_droid_fetch_downloads_only_the_manifest_episodes(tiny_dataset, monkeypatch, tmp_path):
    """With the Hub replaced by a local snapshot folder, the second request names exactly the
    parquet and videos of the validation clips."""
    from lerobot_fixture import make_dataset

    snapshot = make_dataset(tmp_path / "snapshots" / "abc123", episodes=2, frames=200, masks=False, first_index=98)
    calls = []

    def fake_snapshot(repo, revision, patterns):
        calls.append((repo, revision, patterns))
        return snapshot

    monkeypatch.setattr(hub, "_snapshot", fake_snapshot)
    root, revision = hub.fetch_droid_eval(protocol.TASKS["droid"], None)
    assert root == snapshot and revision == "abc123"
    assert calls[0] == ("cadene/droid_1.0.1", None, ["meta/*"])
    repo, rev, patterns = calls[1]
    assert rev == "abc123"
    assert "data/chunk-000/episode_000099.parquet" in patterns
    assert "videos/chunk-000/observation.images.wrist_left/episode_000099.mp4" in patterns
    assert not any("episode_000098" in p for p in patterns)


def test_local_folder_and_task_names(tiny_dataset):
    dataset, revision = open_dataset(protocol.TASKS["droid-sim"], tiny_dataset)
    assert revision == local_revision(tiny_dataset) and revision.startswith("local-")
    assert open_dataset(protocol.TASKS["droid-sim"], tiny_dataset, "v7")[1] == "v7"
    with pytest.raises(PwbenchError, match="did you mean 'droid'"):
        get_task("droidd")


def test_shipped_droid_sim_eval_split_opens_with_its_digest_as_revision():
    import json

    from pwbench.data.evalset import select_clips
    from pwbench.data.tasks import SIM_EVAL_DIGEST

    dataset, revision = open_dataset(protocol.TASKS["droid-sim"], None)
    assert revision == "sha256-" + json.loads(SIM_EVAL_DIGEST.read_text())["overall"]
    manifest = select_clips(protocol.TASKS["droid-sim"], dataset, revision)
    assert len(manifest["clips"]) >= 12
