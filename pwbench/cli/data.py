"""`pwbench data sim|preview|prepare|plan`: generate and look at droid-sim data; prepare (and
price) an eval set of any task once, before the runs."""

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


def _open(args: argparse.Namespace):
    from pwbench import protocol
    from pwbench.data.tasks import get_task

    task = get_task(args.task)
    return task, protocol.horizon_frames(args.horizon)


def _cmd_prepare(args: argparse.Namespace) -> int:
    """Choose the clips, pin the manifest, download what is missing and decode every clip once."""
    from pwbench.data.evalset import EvalSet, eval_manifest
    from pwbench.data.pinned import pin_path
    from pwbench.errors import PwbenchError
    from pwbench.paths import evalset_cache
    from pwbench.results.summary import mask_note

    try:
        task, frames = _open(args)
        pin = pin_path(task, args.data, frames)
        if args.new_manifest and pin is not None and pin.is_file():
            replaced = pin.with_name(pin.stem + ".replaced.json")
            pin.replace(replaced)
            print(f"previous manifest moved to {replaced}")
        dataset, manifest, pin = eval_manifest(task, args.data, args.revision, frames)
        evalset = EvalSet(task, manifest, evalset_cache(task.name), dataset, pin)
        evalset.prepare(frames, progress=not args.quiet)
        masks = None
        if args.sam_checkpoint:
            from pwbench.data.sam import prepare_masks

            masks = prepare_masks(evalset, args.sam_checkpoint, args.sam_model, args.device, not args.quiet)
    except PwbenchError as err:
        print(f"pwbench data prepare: error: {err}", file=sys.stderr)
        return 2
    source = manifest["source"]
    where = source.get("hub") and f"{source['hub']}@{source['commit'][:12]}" or source.get("path") or source
    print(f"{task.name}: {len(evalset.clip_ids)} clips ({manifest['rule']}, s0 {task.start_frame}, "
          f"{frames} frames) from {where} [{source['layout']}], revision {manifest['revision']}")
    print(f"  fingerprint {evalset.fingerprint[:16]}, frames cached in {evalset.dir}"
          + (f", manifest {pin}" if pin else ""))
    if masks is not None:
        _print_masks(masks)
    elif not evalset.has_masks:
        print(f"  {mask_note(task.name, 'unavailable', {}, task.views)} (recorded in every run)")
    for _, why in sorted(evalset.unreadable.items()):
        print(f"  failed: {why}", file=sys.stderr)
    return 2 if evalset.unreadable or (masks and masks["failed"]) else 0


def _print_masks(info: dict) -> None:
    done = info["clips"] - len(info["failed"])
    print(f"  SAM masks {info['version']} ({', '.join(info['views'])}): {done}/{info['clips']} clips")
    for _, why in sorted(info["failed"].items()):
        print(f"  masks failed: {why}", file=sys.stderr)
    for view, row in (info.get("iou_vs_exact") or {}).items():
        print(f"  IoU vs the exact masks, {view}: {row['mean']:.3f} (mean over frames, {row['clips']} clips)")


def _cmd_plan(args: argparse.Namespace) -> int:
    """Files and bytes the eval set needs, from the metadata (and the Hub's listing, if online)."""
    from pwbench.data.evalset import select_clips
    from pwbench.data.hub import hub_sizes, plan_download
    from pwbench.data.tasks import open_dataset
    from pwbench.errors import PwbenchError

    try:
        task, frames = _open(args)
        dataset, revision = open_dataset(task, args.data, args.revision)
        manifest = select_clips(task, dataset, revision, min_future=frames)
        indices = [c["episode_index"] for c in manifest["clips"]]
        files = sorted({rel for i in indices for rel in dataset.files(i, task.views)})
        sizes = {rel: (dataset.root / rel).stat().st_size for rel in files if (dataset.root / rel).is_file()}
        if dataset.remote is not None and len(sizes) < len(files) and not args.offline:
            try:
                sizes |= hub_sizes(dataset.remote, [f for f in files if f not in sizes])
            except Exception as err:  # noqa: BLE001 - no network: sizes stay unknown, said below
                print(f"note: no file sizes from the Hub ({type(err).__name__})", file=sys.stderr)
        plan = plan_download(dataset, indices, sizes, task.views)
    except PwbenchError as err:
        print(f"pwbench data plan: error: {err}", file=sys.stderr)
        return 2
    print(f"{task.name} [{plan['layout']}]: {len(indices)} clips need {plan['files']} files, "
          f"{plan['bytes'] / 1e9:.2f} GB" + (f" (+ {plan['unknown_size']} of unknown size)"
                                            if plan["unknown_size"] else ""))
    for kind, row in sorted(plan["by_kind"].items()):
        print(f"  {kind}: {row['files']} files, {row['bytes'] / 1e9:.2f} GB")
    if args.json:
        from pwbench.io import atomic_write_json

        atomic_write_json(args.json, plan)
    return 0


def _add_eval_set_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="droid", help="task (default droid)")
    p.add_argument("--data", default=None, help="local folder (LeRobot v2.1/v3.0 or Ctrl-World's processed "
                   "layout) or hf:REPO (default for droid: hf:cadene/droid_1.0.1)")
    p.add_argument("--revision", default=None, help="Hub commit (default: the pinned one, else the newest)")
    p.add_argument("--horizon", default="11s", help="the runs' horizon: episodes must be long enough (default 11s)")


def add_prepare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("prepare", help="choose, download and decode an eval set once (pins its manifest)",
                       description="Choose the eval clips by the task's rule, pin the manifest, download only "
                       "their files and decode every clip into the frame cache. Re-running verifies the "
                       "manifest and refuses a changed dataset.")
    _add_eval_set_args(p)
    p.add_argument("--new-manifest", action="store_true", help="replace the pinned manifest (changed data)")
    p.add_argument("--sam-checkpoint", default=None, metavar="PATH|hf:REPO/FILE",
                   help="also compute Segment Anything object masks (docs/droid.md; on droid-sim: IoU vs exact)")
    p.add_argument("--sam-model", default="vit_b", help="SAM architecture of the checkpoint (vit_b, vit_l, vit_h)")
    p.add_argument("--device", default="cpu", help="device for SAM (cpu, cuda)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_prepare)
    return p


def add_plan_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("plan", help="files and bytes an eval set needs (downloads only metadata)")
    _add_eval_set_args(p)
    p.add_argument("--offline", action="store_true", help="do not ask the Hub for file sizes")
    p.add_argument("--json", default=None, help="also write the plan (with every path) to this file")
    p.set_defaults(func=_cmd_plan)
    return p


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
    data = subparsers.add_parser("data", help="prepare eval sets; generate or preview droid-sim data")
    sub = data.add_subparsers(dest="data_command", metavar="{prepare,plan,sim,preview}")
    sub.required = True
    for add in (add_prepare_parser, add_plan_parser, add_sim_parser, add_preview_parser):
        add(sub)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m pwbench.cli.data sim ...`)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    parser = argparse.ArgumentParser(prog="pwbench-data")
    sub = parser.add_subparsers(dest="data_command", required=True)
    for add in (add_prepare_parser, add_plan_parser, add_sim_parser, add_preview_parser):
        add(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
