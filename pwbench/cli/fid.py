"""`pwbench fid RUN --inception PATH|download`: optional FID per horizon and view group.

Reads the run's saved predictions (a run made with ``--save-predictions``) and the ground truth
of its eval set, exactly as ``pwbench score`` does, without loading any model; computes FID with
pytorch-fid (pwbench.metrics.fid) over predicted frames 1..h of all clips for every grid horizon
and view group; writes ``RUN/fid.json`` and prints its own table. The run's summary, records and
fingerprint are not touched: FID is never a protocol metric. Exit status 3: some clips failed
(left out of every FID and listed).
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Any

from pwbench import __version__, protocol
from pwbench.cli.run import EXIT_CLIPS_FAILED
from pwbench.cli.score import each_prediction, saved_run
from pwbench.errors import PwbenchError
from pwbench.io import atomic_write_json, utc_timestamp
from pwbench.results.report import FID_SCHEMA, format_fid
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import RunManifest
from pwbench.results.summary import view_sets

INSTALL = "pip install pytorch-fid"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fid", help="optional FID per horizon of a run's saved predictions (pytorch-fid)",
                       description="FID per grid horizon and view group of a run made with --save-predictions, "
                                   "written to RUN/fid.json; never part of summary.json or the fingerprint. "
                                   "Exit status 3: some clips failed.")
    p.add_argument("run_dir", help="run folder made with --save-predictions")
    p.add_argument("--inception", required=True, metavar="PATH|download",
                   help="pytorch-fid's FID Inception weights (pt_inception-2015-12-05-6726825d.pth, or a "
                        ".safetensors of the same state dict), or 'download' for pytorch-fid's own download")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch", type=int, default=32, metavar="N", help="frames per Inception forward")
    p.add_argument("--data", default=None, help="local dataset folder, if the eval set is not cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def _fid_module() -> ModuleType:
    """pwbench.metrics.fid, or a one-line fix when the optional pytorch-fid is not installed."""
    try:
        from pwbench.metrics import fid
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] != "pytorch_fid":
            raise
        raise PwbenchError(f"FID needs the optional pytorch-fid package: {INSTALL}") from err
    return fid


def main(args: argparse.Namespace) -> int:
    fid = _fid_module()
    if args.batch < 1:
        raise PwbenchError(f"--batch must be at least 1, got {args.batch}")
    run_dir = RunDir(args.run_dir)
    weights = fid.load_weights(args.inception)  # before the eval set: a missing file fails in seconds
    run, config, evalset = saved_run(run_dir, args.device, args.data)
    model = fid.fid_inception(weights, config.device)
    clips, failures = {}, {}
    for clip_id, _, pred, gt in each_prediction(evalset, run_dir, run.horizon, failures, "fid", args.quiet):
        clips[clip_id] = fid.clip_features(model, pred, gt, args.batch, config.device)
    groups = {g: vs for g, vs in view_sets(tuple(run.views)).items() if g in protocol.GROUPS}
    results = fid.fid_per_horizon(list(clips.values()), protocol.grid_upto(run.horizon), groups)
    report = _report(fid, run, weights, groups, results, list(clips), failures)
    atomic_write_json(run_dir.fid_path, report)
    print(format_fid(report))
    print(f"\nresults: {run_dir.fid_path}")
    return EXIT_CLIPS_FAILED if failures else 0


def _report(fid: ModuleType, run: RunManifest, weights: Any, groups: dict[str, tuple[str, ...]],
            results: dict[str, Any], used: list[str], failures: dict[str, str]) -> dict[str, Any]:
    """fid.json: what was compared (the run's fingerprint and clips), with which network, and the
    numbers with their frame counts and the bias caveat that must travel with them."""
    return {
        "schema": FID_SCHEMA,
        "fingerprint": run.fingerprint,
        "run": {"model": run.model, "task": run.task, "horizon": run.horizon, "horizon_name": run.horizon_name,
                "actions": run.actions, "seed": run.seed},
        "inception": {"source": weights.source, "sha256": weights.sha256, "official": weights.official,
                      "layer": "pool3", "dims": fid.DIMS, "resize_input": True, "normalize_input": True},
        "pytorch_fid_version": fid.PYTORCH_FID_VERSION,
        "window": "up_to",
        "clips": {"total": len(run.clip_ids), "used": len(used), "failed": len(failures)},
        "clip_ids": used,
        "failures": [{"clip_id": c, "error": e} for c, e in failures.items()],
        "horizons": list(results),
        "groups": {g: list(vs) for g, vs in groups.items()},
        "results": results,
        "caveat": fid.BIAS_NOTE,
        "harness_version": __version__,
        "created": utc_timestamp(),
    }
