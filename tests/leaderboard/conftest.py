"""A small published site (copy-last, a stand-in model with its shuffled-action and seed runs, a
reported paper row) for the site tests."""

from __future__ import annotations

import pytest

from pwbench.cli.main import main
from pwbench.leaderboard.submission import SUBMISSION_FILE, Submission
from pwbench.models import registry

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def site(tiny_dataset, tmp_path_factory):
    base = tmp_path_factory.mktemp("site")
    registry.BUILTIN["darkened"] = "plugin_models:build_darkened"
    registry.MODELS.refresh()
    try:
        for model in ("copy-last", "darkened"):
            run = base / f"run-{model}"
            common = ["--model", model, "--data", str(tiny_dataset), "--quiet", "--horizon", "2s"]
            assert main(["run", *common, "--out", str(run), "--save-predictions"]) == 0
            extra = []
            if model == "darkened":  # its shuffled-action twin: the action-sensitivity column
                assert main(["run", *common, "--out", str(base / "run-darkened-shuffled"), "--actions",
                             "shuffled"]) == 0
                seeds = [base / f"run-darkened-seed{k}" for k in (1, 2)]  # seed noise on a 2-clip subset
                for k, seed_run in zip((1, 2), seeds, strict=True):
                    assert main(["run", *common, "--out", str(seed_run), "--seed", str(k), "--clips", "2"]) == 0
                extra = ["--shuffled", str(base / "run-darkened-shuffled"), "--seeds", *map(str, seeds)]
            assert main(["submit", str(run), "--out", str(base / "submissions"), "--author", XSS, "--quiet",
                         "--notes", XSS, "--link", "https://example.org", *extra]) == 0
    finally:
        del registry.BUILTIN["darkened"]
        registry.MODELS.refresh()
    reported = base / "submissions" / "droid" / "persistworld-paper"
    reported.mkdir(parents=True)
    Submission(model="PersistWorld", task="droid", tier="reported", authors=("paper authors",), date="2026-03-26",
               harness_version="-", citation="arXiv 2603.25685", links=("https://arxiv.org/abs/2603.25685",),
               reported={"11s": {"External": {"lpips_full": 0.2}}}).write_yaml(reported / SUBMISSION_FILE)
    out = base / "site"
    assert main(["leaderboard", "build", "--out", str(out), "--submissions", str(base / "submissions"),
                 "--preview"]) == 0
    return out


