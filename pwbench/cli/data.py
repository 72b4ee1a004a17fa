"""`pwbench data sim` and `pwbench data preview`: generate and look at droid-sim data."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_sim(args: argparse.Namespace) -> int:
    try:
        from pwbench.data.sim import SimUnavailable, require_sim
        require_sim()
    except ImportError as exc:  # SimUnavailable is an ImportError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    del SimUnavailable
    from pwbench.data.sim.generate import DEFAULT_SEEDS, default_train_dir, generate_split, shipped_eval_dir

    out = Path(args.out) if args.out else (default_train_dir() if args.split == "train"
                                           else shipped_eval_dir())
    episodes = args.episodes if args.episodes is not None else (16 if args.split == "eval" else 200)
    seed = DEFAULT_SEEDS[args.split] if args.seed is None else args.seed
    summary = generate_split(out, args.split, episodes, seed=seed, crf=args.crf, progress=not args.quiet,
                             log=args.log, duration=args.duration)
    print(f"droid-sim {args.split}: {summary['episodes']} episodes in {summary['out']} "
          f"({summary['new']} new" + (f", {summary['mean_wall_s']:.1f} s each)" if summary["new"] else ")"))
    if args.checksums:
        from pwbench.data.sim.generate import write_checksums
        rec = write_checksums(out, args.checksums)
        print(f"sha256 {rec['overall']} -> {args.checksums}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from pwbench.data.sim.preview import contact_sheet, gif

    if args.gif:
        path = gif(args.dataset, args.episodes[0], args.out, with_masks=not args.no_masks)
    else:
        path = contact_sheet(args.dataset, args.episodes, args.out, with_masks=not args.no_masks)
    print(f"wrote {path}")
    return 0


def add_sim_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("sim", help="generate droid-sim episodes (needs the 'sim' extra)",
                       description="Generate (or resume) a droid-sim split in LeRobot v2.1 layout.")
    p.add_argument("--split", choices=["eval", "train"], default="train")
    p.add_argument("--episodes", type=int, default=None, help="episodes (default: eval 16, train 200)")
    p.add_argument("--seed", type=int, default=None, help="base seed (default: eval 1000, train 0)")
    p.add_argument("--out", default=None, help="output folder (default: train -> "
                   "$PWBENCH_CACHE/droid-sim/train, eval -> the shipped eval folder)")
    p.add_argument("--crf", type=int, default=None, help="x264 CRF (default 28)")
    p.add_argument("--duration", type=float, default=None, help="fixed episode length in seconds "
                   "(default: drawn in 15-25 s)")
    p.add_argument("--log", default=None, help="append one line per episode to this file")
    p.add_argument("--checksums", default=None, help="write sha256 of every file to this JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sim)
    return p


def add_preview_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("preview", help="contact sheet (PNG) or GIF of dataset episodes, masks overlaid")
    p.add_argument("dataset", help="LeRobot v2.1 dataset folder (droid-sim)")
    p.add_argument("--episodes", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--out", required=True, help="output .png (or .gif with --gif)")
    p.add_argument("--gif", action="store_true", help="an animated GIF of the first episode given")
    p.add_argument("--no-masks", action="store_true", help="do not overlay the label maps")
    p.set_defaults(func=_cmd_preview)
    return p


def register(subparsers) -> None:
    """Add `data sim` and `data preview` under a `data` command."""
    data = subparsers.add_parser("data", help="generate or preview datasets (droid-sim)")
    sub = data.add_subparsers(dest="data_command", metavar="{sim,preview}")
    sub.required = True
    add_sim_parser(sub)
    add_preview_parser(sub)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m pwbench.cli.data sim ...`)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    parser = argparse.ArgumentParser(prog="pwbench-data")
    sub = parser.add_subparsers(dest="data_command", required=True)
    add_sim_parser(sub)
    add_preview_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
