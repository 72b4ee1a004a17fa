"""`pwbench run`: roll a model out on a task's eval set and score it (resumable)."""

from __future__ import annotations

import argparse
import re

from pwbench import protocol
from pwbench.results.report import format_table
from pwbench.runner import RunConfig, run

EXIT_CLIPS_FAILED = 3  # the run finished, but some clips failed (listed in the summary)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a model on a task and score it",
                       description="Run a model on a task's eval set and score it. Re-running the same "
                                   "command resumes: finished clips are skipped. Exit status 3: some clips failed.")
    p.add_argument("--model", required=True, help="registered model name (see `pwbench ls models`)")
    p.add_argument("--task", default=protocol.DEFAULT_TASK, help=f"task (default {protocol.DEFAULT_TASK})")
    p.add_argument("--horizon", default="11s", help="grid name (1s 2s 4s 8s 11s), Xs, or frames")
    p.add_argument("--clips", type=int, default=None, help="only the first N clips of the manifest")
    p.add_argument("--episodes", default=None, metavar="A:B",
                   help="only clips of episodes A..B-1, e.g. validation runs on held-out train episodes "
                        "(--data a train split); the clip list is part of the fingerprint")
    p.add_argument("--out", default=None, help="run folder (default runs/<task>-<model>-<horizon>)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--data", default=None, help="local dataset folder (LeRobot v2.1 / v3.0 or "
                   "Ctrl-World's processed layout) or hf:REPO (a Hub dataset)")
    p.add_argument("--revision", default=None, help="dataset revision to record / fetch")
    p.add_argument("--actions", default="true", choices=protocol.ACTION_REGIMES,
                   help="true: each clip's own actions; shuffled: another clip's (action sensitivity, "
                        "see `pwbench compare`); the regime is part of the run folder's identity")
    p.add_argument("--seed", type=int, default=0, metavar="K",
                   help="the run's noise draw: 0 (default) is the protocol's, the one leaderboard rows use; "
                        "K > 0 draws independent per-clip noise (seed-noise runs, `pwbench submit --seeds`); "
                        "part of the run folder's identity")
    p.add_argument("--batch", type=int, default=1, metavar="N",
                   help="roll N clips out in lockstep through one batched forward (models with step_batch; "
                        "per-clip seeds kept, results bit-identical for equal N)")
    p.add_argument("--clip-timeout", type=float, default=3600.0, metavar="SECONDS",
                   help="a clip whose rollout takes longer fails (recorded; the run goes on); default 3600")
    p.add_argument("--save-predictions", action="store_true", help="keep predicted frames for `pwbench score`")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option passed to its factory (repeatable), e.g. num_steps=10")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=main)


def parse_options(pairs: list[str]) -> dict[str, object]:
    """KEY=VALUE pairs; decimal numbers become int/float, everything else stays a string."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option {pair!r}: expected KEY=VALUE")
        if re.fullmatch(r"[+-]?\d+", value):
            options[key] = int(value)
        elif re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", value):
            options[key] = float(value)
        else:
            options[key] = value
    return options


def main(args: argparse.Namespace) -> int:
    config = RunConfig(model=args.model, task=args.task, horizon=args.horizon, clips=args.clips,
                       episodes=args.episodes,
                       out=args.out, device=args.device, data=args.data, revision=args.revision,
                       save_predictions=args.save_predictions, actions=args.actions, seed=args.seed, batch=args.batch,
                       clip_timeout=args.clip_timeout,
                       model_options=parse_options(args.option))
    summary = run(config, progress=not args.quiet)
    if summary is None:  # a non-zero rank of a torchrun launch: rank 0 reports
        return 0
    print(format_table(summary))
    print(f"\nresults: {config.out_dir()}/summary.json")
    return EXIT_CLIPS_FAILED if summary.clips.failed else 0
