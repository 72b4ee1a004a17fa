"""Leaderboard site build at the size of a real DROID leaderboard: 10 models x 256 clips x 11 s of
synthetic records (schema-valid, made by ``pwbench.testing.synthetic_run``), no clip videos (a
video is made once by ``pwbench submit``, not by the build). Measures the whole ``build`` — check
of every entry (hashes, summary recomputed), tables, bootstrap ranks, win matrices, figures, one
page per model, per model and clip, and per clip — and the size of the site on disk.

Run: ``.venv/bin/pytest benchmarks/test_site_build.py``. Figures: docs/performance.md.
"""

from __future__ import annotations

import pytest

from pwbench.leaderboard.site import build
from pwbench.leaderboard.submission import package
from pwbench.testing import synthetic_run

MODELS, CLIPS = 10, 256


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    base = tmp_path_factory.mktemp("site-bench")
    for i in range(MODELS):
        name = "copy-last" if i == 0 else f"model-{i}"
        run = synthetic_run(base / "runs" / name, name, CLIPS, seed=i, quality=0.05 + 0.01 * i)
        package(run, base / "submissions", ["bench"], media=False, progress=False)
    return base / "submissions"


def test_site_build_10_models_256_clips(benchmark, submissions, tmp_path):
    out = tmp_path / "site"
    report = benchmark.pedantic(build, args=(submissions, out), kwargs={"official_only": False}, rounds=1,
                                iterations=1)
    assert len(report["published"]) == MODELS and not report["excluded"]
    files = [p for p in out.rglob("*") if p.is_file()]
    benchmark.extra_info.update(files=len(files), megabytes=round(sum(p.stat().st_size for p in files) / 2**20, 1))
    assert len(files) > MODELS * CLIPS
