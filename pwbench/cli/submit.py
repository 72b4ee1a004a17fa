"""`pwbench submit RUN_DIR` packages a finished run as a leaderboard entry; `pwbench check [PATH]`
verifies one entry or every entry below PATH (default ``submissions/``). Exit 1 if any fails."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="package a finished run as a leaderboard entry")
    p.add_argument("run_dir")
    p.add_argument("--out", default="submissions", help="submissions folder (default submissions/)")
    p.add_argument("--author", action="append", required=True, help="repeatable")
    p.add_argument("--link", action="append", default=[], help="http(s) URL (paper, code); repeatable")
    p.add_argument("--license", default="")
    p.add_argument("--training-compute", default=None, help='e.g. "250 CPU minutes (2 cores)"')
    p.add_argument("--notes", default="")
    p.add_argument("--name", default=None, help="entry folder name (default model-variant-horizon)")
    p.add_argument("--shuffled", default=None, metavar="RUN_DIR",
                   help="the same model's shuffled-action run of the same clips (the action-sensitivity column)")
    p.add_argument("--seeds", nargs="+", default=[], metavar="RUN_DIR",
                   help="the same model's runs with other --seed values on one subset of the clips "
                        "(`pwbench run --seed K --clips N`): the seed-noise figure and flags")
    p.add_argument("--no-media", action="store_true",
                   help="no clip preview videos (made by default when the run saved its predictions)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=submit)
    c = sub.add_parser("check", help="verify leaderboard entries (schema, hashes, fingerprint, clips, summary)")
    c.add_argument("path", nargs="?", default="submissions")
    c.set_defaults(func=check)


def submit(args: argparse.Namespace) -> int:
    from pwbench.leaderboard.check import check_entry
    from pwbench.leaderboard.submission import package

    folder = package(args.run_dir, args.out, args.author, args.link, args.license, args.training_compute,
                     args.notes, args.name, shuffled=args.shuffled, seeds=args.seeds, media=not args.no_media,
                     progress=not args.quiet)
    problems = check_entry(folder)
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    print(f"packaged {folder}" + ("" if not problems else f" ({len(problems)} problems)"))
    return 1 if problems else 0


def check(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # checking never downloads
    from pwbench.leaderboard.check import check_entry, find_entries, official_fingerprints
    from pwbench.leaderboard.submission import Submission

    entries = find_entries(args.path)
    if not entries:
        if Path(args.path).is_dir():
            print(f"{args.path}: no entries (no submission.yaml below it)")
            return 0
        print(f"pwbench check: error: {args.path}: no such folder", file=sys.stderr)
        return 2
    tasks = set()
    for e in entries:
        try:
            tasks.add(Submission.read(e / "submission.yaml").task)
        except Exception:  # noqa: BLE001 - reported per entry below
            pass
    official = official_fingerprints(tasks)
    failed = 0
    for entry in entries:
        problems = check_entry(entry, official)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {entry}")
        for line in problems:
            print(f"     {line}")
    print(f"{len(entries) - failed}/{len(entries)} entries ok")
    return 1 if failed else 0
