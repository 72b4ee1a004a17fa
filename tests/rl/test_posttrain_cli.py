"""`pwbench posttrain persistworld` end to end on the shipped small Ctrl-World and a tiny split:
train, resume, refuse a changed recipe, export, and run the exported adapters as `persistworld`."""

from __future__ import annotations

import json

from pwbench.cli.main import main

FAST = ["--k", "2", "--prefix", "0:0", "--future", "1:1", "--loss-samples", "2", "--val-episodes", "1",
        "--threads", "1", "--quiet"]


def test_posttrain_resume_export_and_run(tiny_dataset, tmp_path, capsys):
    out, adapters = tmp_path / "pw", tmp_path / "adapters"
    args = ["posttrain", "persistworld", "--data", str(tiny_dataset), "--out", str(out), *FAST]
    assert main([*args, "--steps", "1"]) == 0
    assert main([*args, "--steps", "2", "--resume"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert main([*args, "--steps", "3", "--resume", "--beta", "0.5"]) == 2
    assert "the recipe differs (nft settings)" in capsys.readouterr().err
    assert main(["posttrain", "persistworld", "--out", str(out), "--export", str(adapters)]) == 0
    facts = json.loads((adapters / "posttraining.json").read_text())
    assert facts["steps"] == 2 and facts["nft"]["k"] == 2 and facts["base"]["variant"] == "small-droid-sim"
    run = tmp_path / "run"
    assert main(["run", "--model", "persistworld", "--option", f"adapters={adapters}", "--data", str(tiny_dataset),
                 "--out", str(run), "--horizon", "1s", "--clips", "1", "--quiet"]) == 0
    spec = json.loads((run / "model.json").read_text())
    assert spec["name"] == "persistworld" and spec["extra"]["rl_steps"] == 2
