"""`pwbench` entry point: subcommands register themselves; user mistakes print one line."""

from __future__ import annotations

import argparse
import sys

from pwbench import __version__
from pwbench.cli import compare, fid, leaderboard, ls, merge, motion, run, score, status, submit
from pwbench.errors import PwbenchError

# fid imports pytorch-fid lazily
SUBCOMMANDS = [run, score, status, ls, merge, compare, submit, leaderboard, fid, motion]
OPTIONAL = ["pwbench.cli.data", "pwbench.cli.train", "pwbench.cli.posttrain"]  # added by other rooms of the package
EXIT_USER_ERROR = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pwbench", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"pwbench {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    for name in OPTIONAL:
        try:
            module = __import__(name, fromlist=["register"])
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (PwbenchError, ValueError, FileNotFoundError) as err:
        print(f"pwbench {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as err:  # an unwritable or full --out, a vanished file: say which, no traceback
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        print(f"pwbench {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"pwbench {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
