"""`pwbench leaderboard build --out DIR [--submissions submissions/]`: render the static site."""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site from submissions/")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="render the site")
    b.add_argument("--out", required=True, help="site folder (open index.html, or serve it statically)")
    b.add_argument("--submissions", default="submissions")
    b.add_argument("--preview", action="store_true",
                   help="also publish entries of other eval sets (development runs); every other check applies")
    b.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # building never downloads
    from pwbench.leaderboard.site import build

    report = build(args.submissions, args.out, official_only=not args.preview)
    print(f"{args.out}/index.html: {len(report['published'])} entries published, {len(report['excluded'])} excluded")
    for e in report["excluded"]:
        print(f"  excluded {e['folder']}: {e['reason']}")
    return 0
