"""`pwbench compare RUN_A RUN_B`: paired statistics and a shared drift plot."""

from __future__ import annotations

import argparse
from pathlib import Path

from pwbench.io import atomic_write_json
from pwbench.results.compare import compare, format_comparison
from pwbench.results.report import plot_drift
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import Summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs on the same clips")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--at", action="store_true", help="compare at-h windows instead of up-to-h")
    p.add_argument("--out", default=None, help="folder for comparison.json and drift.png")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    a, b = RunDir(args.run_a), RunDir(args.run_b)
    result = compare(a, b, kind="at" if args.at else "up_to")
    print(format_comparison(result))
    if args.out:
        out = Path(args.out)
        atomic_write_json(out / "comparison.json", result)
        loaded = [Summary.read(d.path / "summary.json") for d in (a, b)]
        summaries = {s.label: s for s in loaded}
        plot_drift(summaries, out / "drift.png")
        print(f"\nwrote {out / 'comparison.json'} and {out / 'drift.png'}")
    return 0
