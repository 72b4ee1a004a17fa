import pytest

from pwbench import protocol
from pwbench.data.tasks import get_task, local_revision, open_dataset
from pwbench.errors import DatasetError, PwbenchError


def test_droid_offline_without_a_cache_says_what_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(DatasetError) as err:
        open_dataset(protocol.TASKS["droid"], None)
    message = str(err.value)
    assert "\n" not in message and message.count("meta/info.json") == 2  # what is missing, and in the command
    assert "hf download cadene/droid_1.0.1 --repo-type dataset meta/info.json" in message


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
