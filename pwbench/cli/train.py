"""`pwbench train MODEL [args...]`: hand over to the model family's own trainer.

Trainers register like models, under the ``pwbench.trainers`` entry-point group, as
``main(argv: list[str]) -> int``; the arguments after the model name are theirs.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from importlib.metadata import entry_points

from pwbench.errors import PwbenchError

ENTRY_POINT_GROUP = "pwbench.trainers"


def trainers() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model family (arguments after MODEL go to its trainer)")
    p.add_argument("model")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    known = trainers()
    if args.model not in known:
        close = difflib.get_close_matches(args.model, list(known), n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise PwbenchError(f"no trainer for {args.model!r}{hint} (trainers: {', '.join(known) or 'none'})")
    module, _, attr = known[args.model].partition(":")
    return int(getattr(importlib.import_module(module), attr)(list(args.args)) or 0)
