"""`pwbench score`: score saved predictions without loading any model.

SOURCE is either a run folder made with ``--save-predictions`` (its run.json says what was
run) or a submission folder of ``<clip_id>.npz`` files (one uint8 (H, h, w, 3) array per view),
which needs --task, --horizon and --name. Every prediction is validated exactly like a live
rollout, and records go to a new run folder (the source's action regime and clip range kept).
Exit status 3: some clips failed or have no prediction.
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pwbench.cli.run import EXIT_CLIPS_FAILED
from pwbench.data.evalset import Clip, EvalSet
from pwbench.data.tasks import get_task
from pwbench.errors import ClipError, DatasetError, PwbenchError, RunMismatch
from pwbench.results.report import format_table
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ClipRecord, RunManifest
from pwbench.results.summary import write_summary
from pwbench.rollout import validate_frames
from pwbench.runner import RunConfig, evalset_of_run, prepare_eval_set, run_manifest
from pwbench.scoring import score_frames


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score saved predictions (no model is loaded)")
    p.add_argument("source", help="run folder with predictions/, or a folder of <clip_id>.npz")
    p.add_argument("--out", default=None, help="new run folder (default SOURCE-rescored)")
    p.add_argument("--task", default=None)
    p.add_argument("--horizon", default=None)
    p.add_argument("--name", default=None, help="model name to record (submission folders)")
    p.add_argument("--data", default=None, help="local dataset folder, if the eval set is not cached")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=main)


def _config(args: argparse.Namespace, source: Path) -> tuple[RunConfig, Path, RunManifest | None]:
    out = args.out or f"{source.as_posix().rstrip('/')}-rescored"
    if (source / "run.json").is_file():
        run = RunDir(source).read_manifest()
        config = RunConfig.of_run(run, model=args.name, out=out, device=args.device, data=args.data)
        return config, source / "predictions", run
    missing = [flag for flag, value in (("--task", args.task), ("--horizon", args.horizon), ("--name", args.name))
               if value is None]
    if missing:
        raise RunMismatch(f"{source} has no run.json; give {' '.join(missing)}")
    return RunConfig(model=args.name, task=args.task, horizon=args.horizon, out=out, device=args.device,
                     data=args.data), source, None


def main(args: argparse.Namespace) -> int:
    from pwbench.metrics import FrameScorer

    source = Path(args.source)
    if not source.is_dir():
        raise DatasetError(f"{source}: no such folder")
    config, pred_dir, run = _config(args, source)
    task = get_task(config.task)
    evalset = evalset_of_run(run, config, str(source)) if run is not None else prepare_eval_set(task, config)
    evalset.prepare(config.frames)
    out = RunDir(config.out_dir())
    manifest = run_manifest(config, task, evalset, run.model_options if run else {}).replace(origin="score")
    if run is not None and run.action_donors is not None:
        manifest = manifest.replace(action_donors=run.action_donors)
    out.open(manifest)
    scorer = FrameScorer(device=config.device)
    for clip_id in tqdm(evalset.clip_ids, desc=f"score {config.model}", unit="clip"):
        out.write_record(_score_one(evalset, scorer, pred_dir, clip_id, config))
    summary = write_summary(out)
    print(format_table(summary))
    print(f"\nresults: {out.path}/summary.json")
    return EXIT_CLIPS_FAILED if summary.clips.failed or summary.clips.missing else 0


def _score_one(evalset: EvalSet, scorer, pred_dir: Path, clip_id: str, config: RunConfig) -> ClipRecord:
    fp, horizon = evalset.fingerprint, config.frames
    try:
        clip, frames = load_prediction(evalset, pred_dir, clip_id, horizon)
        scores = score_frames(scorer, clip, frames, horizon)
    except (ClipError, DatasetError) as err:
        return ClipRecord.failed(fp, clip_id, config.model, horizon, str(err))
    return ClipRecord.scored(fp, clip_id, config.model, horizon, scores)


def load_prediction(evalset: EvalSet, pred_dir: Path, clip_id: str, horizon: int) -> tuple[Clip, dict[str, np.ndarray]]:
    """A clip and its saved prediction ``pred_dir/<clip_id>.npz``, validated exactly like a live
    rollout. The one reader of saved predictions (``score`` and ``fid`` both use it), so a file
    one of them refuses the other refuses too. Raises ClipError or DatasetError, naming the file."""
    path = pred_dir / f"{clip_id}.npz"
    if not path.is_file():
        raise ClipError(clip_id, f"missing prediction file {path}")
    clip = evalset.load(clip_id)
    size = clip.episode.frames[evalset.task.views[0]].shape[1:3]
    try:
        with np.load(path, allow_pickle=False) as stored:
            frames = {k: stored[k] for k in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ClipError(clip_id, f"{path}: unreadable ({type(err).__name__}: {err})") from err
    return clip, validate_frames(frames, evalset.task.views, horizon, size, clip_id, str(path))


def saved_run(run_dir: RunDir, device: str = "cpu", data: str | None = None) -> tuple[RunManifest, RunConfig, EvalSet]:
    """A finished run made with ``--save-predictions``: its manifest, its config and its eval set
    (prepared), for the commands that read its predictions after the fact (``fid``, ``motion``).
    A run without ``predictions/`` is a one-line error naming the fix."""
    run = run_dir.read_manifest()
    if not run_dir.predictions.is_dir():
        raise PwbenchError(f"{run_dir.path} has no predictions/ folder (the run was made without --save-predictions); "
                           "run the model again with --save-predictions and a new --out")
    config = RunConfig.of_run(run, device=device, data=data)
    evalset = evalset_of_run(run, config, str(run_dir.path))
    evalset.prepare(config.frames)
    return run, config, evalset


def each_prediction(evalset: EvalSet, run_dir: RunDir, horizon: int, failures: dict[str, str], desc: str,
                    quiet: bool = False) -> Iterator[tuple[str, Clip, dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """(clip id, clip, prediction, ground truth) for every clip of a saved run whose prediction
    loads; a clip that does not is recorded in ``failures`` (id -> error) and skipped."""
    for clip_id in tqdm(evalset.clip_ids, desc=desc, unit="clip", disable=quiet):
        try:
            clip, pred = load_prediction(evalset, run_dir.predictions, clip_id, horizon)
            gt, _ = clip.future(horizon)
        except (ClipError, DatasetError) as err:
            failures[clip_id] = str(err)
            continue
        yield clip_id, clip, pred, gt
