"""`pwbench merge OUT RUN_DIR...`: combine shards of one run; refuses missing/duplicate clips."""

from __future__ import annotations

import argparse
from pathlib import Path

from pwbench.results.merge import merge
from pwbench.results.report import format_table
from pwbench.results.summary import write_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge run folders of the same run")
    p.add_argument("out")
    p.add_argument("sources", nargs="+")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    target = merge([Path(s) for s in args.sources], Path(args.out))
    print(format_table(write_summary(target)))
    return 0
