"""torchrun with 2 CPU processes (gloo) gives the same records as one process; merge checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pwbench.cli.main import main
from pwbench.dist import shard_of
from pwbench.errors import RunMismatch
from pwbench.results.merge import merge


@pytest.fixture(scope="module")
def single(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    assert main(["run", "--model", "copy-last", "--data", str(tiny_dataset), "--out", str(out),
                 "--horizon", "4s", "--quiet"]) == 0
    return out


def test_torchrun_two_processes_match_one(single, tiny_dataset, tmp_path):
    out = tmp_path / "sharded"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "pwbench", "run",
           "--model", "copy-last", "--data", str(tiny_dataset), "--out", str(out), "--horizon", "4s", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "clips ok 3/3" in proc.stdout
    # same records; values only to float tolerance, since torchrun runs each rank on one thread
    for record in (single / "clips").glob("*.json"):
        a, b = json.loads(record.read_text()), json.loads((out / "clips" / record.name).read_text())
        assert a.keys() == b.keys() and a["clip_id"] == b["clip_id"] and a["fingerprint"] == b["fingerprint"]
        for view, metrics in a["metrics"].items():
            for key, values in metrics.items():
                assert np.allclose(np.array(values, float), np.array(b["metrics"][view][key], float),
                                   rtol=1e-5, atol=1e-6, equal_nan=True), (record.name, view, key)
    clip_ids = [c["clip_id"] for c in json.loads((out / "run.json").read_text())["clips"]]
    assert {shard_of(c, 2) for c in clip_ids} == {0, 1}, "the fixture's clips should land on both ranks"


def _split(single, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "clips").mkdir(parents=True)
        shutil.copy(single / "run.json", d / "run.json")
    records = sorted((single / "clips").glob("*.json"))
    shutil.copy(records[0], a / "clips")
    for r in records[1:]:
        shutil.copy(r, b / "clips")
    return a, b, records


def test_merge_combines_and_refuses(single, tmp_path):
    a, b, records = _split(single, tmp_path)
    merged = merge([a, b], tmp_path / "merged")
    assert sorted(p.name for p in merged.clips.glob("*.json")) == [r.name for r in records]
    with pytest.raises(RunMismatch, match="have no record"):
        merge([b], tmp_path / "m2")
    shutil.copy(records[1], a / "clips")
    with pytest.raises(RunMismatch, match="duplicate clips"):
        merge([a, b], tmp_path / "m3")
