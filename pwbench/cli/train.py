"""`pwbench train MODEL [args...]`: hand over to the model family's own trainer.

Trainers register like models, under the ``pwbench.trainers`` entry-point group, as
``main(argv: list[str]) -> int``; the arguments after the model name are theirs.
"""

from __future__ import annotations

import argparse

from pwbench.registry import Registry

ENTRY_POINT_GROUP = "pwbench.trainers"
TRAINERS = Registry("trainer", ENTRY_POINT_GROUP)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model family (arguments after MODEL go to its trainer)")
    p.add_argument("model")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    return int(TRAINERS.resolve(args.model).load()(list(args.args)) or 0)
