"""`pwbench ls {models,tasks}`: what can be run."""

from __future__ import annotations

import argparse

from pwbench import protocol
from pwbench.models.registry import available


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list models or tasks")
    p.add_argument("what", choices=["models", "tasks"])
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.what == "models":
        for name, entry in available().items():
            print(f"{name:<16} {entry.target}  [{entry.source}]")
    else:
        for name, task in protocol.TASKS.items():
            h, w = task.resolution
            default = " (default)" if name == protocol.DEFAULT_TASK else ""
            print(f"{name:<10} {h}x{w}  masks: {task.mask_source:<9} {task.description}{default}")
    return 0
