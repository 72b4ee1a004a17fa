"""The typed result files: what a run writes reads back as the same objects, and a file that
does not match its schema is refused with the file and the field named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pwbench.cli.main import main
from pwbench.errors import RunMismatch
from pwbench.io import dumps_json
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import OPTIONS_NOT_RECORDED, ClipRecord, RunManifest, SchemaError, Summary
from pwbench.results.summary import summarize

CLIP = "ep000000-s008"


@pytest.fixture(scope="module")
def run_folder(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("schema") / "run"
    assert main(["run", "--model", "copy-last", "--data", str(tiny_dataset), "--out", str(out), "--quiet",
                 "--horizon", "1s"]) == 0
    return out


def test_each_file_reads_back_to_what_was_written(run_folder):
    for cls, path in ((RunManifest, run_folder / "run.json"), (ClipRecord, run_folder / f"clips/{CLIP}.json"),
                      (Summary, run_folder / "summary.json")):
        obj = cls.read(path)
        assert dumps_json(obj.to_json()) == path.read_text(), path.name


def test_the_summary_is_recomputed_from_records_alone(run_folder):
    run_dir = RunDir(run_folder)
    run = run_dir.read_manifest()
    again = summarize(run, run_dir.records(run.clip_ids), run_dir.timings(), run_dir.model_spec())
    assert dumps_json(again.to_json()) == (run_folder / "summary.json").read_text()


def test_objects_are_typed(run_folder):
    run = RunManifest.read(run_folder / "run.json")
    record = ClipRecord.read(run_folder / f"clips/{CLIP}.json")
    summary = Summary.read(run_folder / "summary.json")
    assert isinstance(run.clips, tuple) and run.clips[0].clip_id == CLIP and run.clip_ids[0] == CLIP
    assert record.ok and isinstance(record.metrics["wrist_left"]["psnr_full"], tuple)
    assert summary.clips.ok == summary.clips.total and summary.label == "copy-last"
    with pytest.raises(AttributeError):
        summary.model = "other"  # frozen


def _edited(path: Path, tmp_path: Path, edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    out = tmp_path / path.name
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(schema="pwbench.clip/9"), "schema 'pwbench.clip/9'; this pwbench reads 'pwbench.clip/2'"),
    (lambda d: d.update(extra=1), "unknown field extra"),
    (lambda d: d.pop("fingerprint"), "missing field fingerprint"),
    (lambda d: d["metrics"]["wrist_left"]["psnr_full"].__setitem__(2, "high"),
     "metrics.wrist_left.psnr_full[2] must be a number or null, found a string"),
    (lambda d: d["metrics"]["wrist_left"]["psnr_full"].pop(), "not 5 frames long ['psnr_full']"),
    (lambda d: d.update(status="done"), "status 'done' is neither 'ok' nor 'failed'"),
    (lambda d: d.update(horizon="5"), "horizon must be an integer, found a string"),
    (lambda d: d.update(error="x"), "an ok record needs metrics"),
])
def test_a_bad_record_is_refused_naming_the_file_and_field(run_folder, tmp_path, edit, message):
    path = _edited(run_folder / f"clips/{CLIP}.json", tmp_path, edit)
    with pytest.raises(SchemaError) as err:
        ClipRecord.read(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_a_bad_manifest_or_summary_is_refused(run_folder, tmp_path):
    path = _edited(run_folder / "run.json", tmp_path, lambda d: d["clips"][0].update(episode_index="0"))
    with pytest.raises(SchemaError, match=r"clips\[0\]\.episode_index must be an integer"):
        RunManifest.read(path)
    path = _edited(run_folder / "run.json", tmp_path, lambda d: d.update(actions="sideways"))
    with pytest.raises(SchemaError, match="actions 'sideways'"):
        RunManifest.read(path)
    path = _edited(run_folder / "summary.json", tmp_path, lambda d: d["clips"].pop("ok"))
    with pytest.raises(SchemaError, match="missing field clips.ok"):
        Summary.read(path)
    (tmp_path / "half.json").write_text("{half")
    with pytest.raises(SchemaError, match="half.json: unreadable"):
        Summary.read(tmp_path / "half.json")


def test_a_manifest_from_before_typed_options_gets_the_recorded_defaults(run_folder, tmp_path):
    path = _edited(run_folder / "run.json", tmp_path, lambda d: [d.pop(k) for k in ("actions", "model_options",
                                                                                   "masks")])
    run = RunManifest.read(path)
    assert (run.actions, run.model_options, run.masks) == ("true", OPTIONS_NOT_RECORDED, "available")
    assert run.differs(RunManifest.read(run_folder / "run.json")) == "model_options"


def test_a_failed_record_round_trips_and_a_foreign_one_is_refused(run_folder):
    record = ClipRecord.failed("f" * 64, CLIP, "copy-last", 5, "clip x: broke")
    assert ClipRecord.from_json(json.loads(dumps_json(record.to_json())), "mem") == record
    assert "metrics" not in record.to_json()
    run = RunManifest.read(run_folder / "run.json")
    with pytest.raises(RunMismatch, match="record has fingerprint="):
        record.belongs_to(run, CLIP, "here")


def test_a_run_folder_with_a_tampered_record_is_refused_on_resume(run_folder, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(run_folder, out)
    path = out / f"clips/{CLIP}.json"
    data = json.loads(path.read_text())
    data["metrics"]["wrist_left"]["lpips_full"] = "low"
    path.write_text(json.dumps(data))
    assert main(["status", str(out)]) == 2
    assert "lpips_full must be a list, found a string" in capsys.readouterr().err


def test_summary_1_is_upgraded_or_refused_with_the_way_out(run_folder, tmp_path):
    path = _edited(run_folder / "summary.json", tmp_path, lambda d: d.update(schema="pwbench.summary/1"))
    assert Summary.read(path) == Summary.read(run_folder / "summary.json")
    path = _edited(run_folder / "summary.json", tmp_path, lambda d: d.update(
        schema="pwbench.summary/1", masked_frames_excluded=0))
    with pytest.raises(SchemaError, match="pwbench merge NEW_FOLDER RUN_FOLDER"):
        Summary.read(path)
