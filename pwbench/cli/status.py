"""`pwbench status RUN_DIR`: done / total / failed and an ETA, from the files alone (and the
optional FID and motion sections, when `pwbench fid` / `pwbench motion` have written theirs)."""

from __future__ import annotations

import argparse
import statistics

from pwbench.results.report import diagnostic_section
from pwbench.results.run_dir import RunDir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="progress of a run folder")
    p.add_argument("run_dir")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    run_dir = RunDir(args.run_dir)
    run = run_dir.read_manifest()
    clip_ids = run.clip_ids
    records = run_dir.records(clip_ids)
    done = sum(r.ok for r in records.values())
    failed = [r for r in records.values() if not r.ok]
    remaining = len(clip_ids) - done
    per_clip = [t["rollout_s"] for t in run_dir.timings()]
    eta = f"{remaining * statistics.mean(per_clip) / 60:.1f} min of rollout" if per_clip and remaining else "-"
    print(f"{run_dir.path}: model {run.model} · task {run.task} · horizon {run.horizon} frames")
    print(f"done {done}/{len(clip_ids)} · failed {len(failed)} · remaining {remaining} · ETA {eta}")
    for record in failed:
        print(f"  failed {record.clip_id}: {record.error}")
    for command, path in (("fid", run_dir.fid_path), ("motion", run_dir.motion_path)):
        section = diagnostic_section(path, run.fingerprint, command)
        if section is not None:
            print(f"\n{section}")
    return 0
