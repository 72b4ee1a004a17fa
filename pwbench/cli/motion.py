"""`pwbench motion RUN`: how far a run's predicted frames move from the last context frame,
beside how far the recorded frames do (pwbench.results.motion says why).

Reads the run's saved predictions (a run made with ``--save-predictions``) and the ground truth of
its eval set, exactly as ``pwbench score`` and ``pwbench fid`` do, without loading any model;
writes ``RUN/motion.json`` and prints its table. The run's summary, records and fingerprint are not
touched. Exit status 3: some clips failed (left out and listed).
"""

from __future__ import annotations

import argparse
from typing import Any

from pwbench import __version__, protocol
from pwbench.cli.run import EXIT_CLIPS_FAILED
from pwbench.cli.score import each_prediction, saved_run
from pwbench.io import atomic_write_json, utc_timestamp
from pwbench.results.motion import context_change, summarize_change
from pwbench.results.report import MOTION_SCHEMA, format_motion
from pwbench.results.run_dir import RunDir
from pwbench.results.summary import view_sets


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("motion", help="change from the last context frame, predicted vs recorded (saved predictions)",
                       description="Mean absolute change from the last context frame at each grid horizon, "
                                   "predicted and recorded, per view group, of a run made with --save-predictions; "
                                   "written to RUN/motion.json. A model far below the recording's change wins "
                                   "LPIPS by standing still. Exit status 3: some clips failed.")
    p.add_argument("run_dir", help="run folder made with --save-predictions")
    p.add_argument("--data", default=None, help="local dataset folder, if the eval set is not cached")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    run_dir = RunDir(args.run_dir)
    run, _, evalset = saved_run(run_dir, data=args.data)
    horizons = protocol.grid_upto(run.horizon)
    at = list(horizons.values())
    clips, failures = [], {}
    for _, clip, pred, gt in each_prediction(evalset, run_dir, run.horizon, failures, "motion", args.quiet):
        context = {v: f[clip.start_frame] for v, f in clip.episode.frames.items() if v in pred}
        clips.append((context_change(context, pred, at), context_change(context, gt, at)))
    groups = {g: vs for g, vs in view_sets(tuple(run.views)).items() if g in protocol.GROUPS}
    report: dict[str, Any] = {
        "schema": MOTION_SCHEMA,
        "fingerprint": run.fingerprint,
        "run": {"model": run.model, "task": run.task, "horizon": run.horizon, "actions": run.actions, "seed": run.seed},
        "measure": "mean |frame h - last context frame| over pixels and channels, uint8 levels, at frame h",
        "clips": {"total": len(run.clip_ids), "used": len(clips), "failed": len(failures)},
        "failures": [{"clip_id": c, "error": e} for c, e in failures.items()],
        "horizons": list(horizons),
        "groups": {g: list(vs) for g, vs in groups.items()},
        "results": summarize_change(clips, horizons, groups),
        "harness_version": __version__,
        "created": utc_timestamp(),
    }
    atomic_write_json(run_dir.motion_path, report)
    print(format_motion(report))
    print(f"\nresults: {run_dir.motion_path}")
    return EXIT_CLIPS_FAILED if failures else 0
