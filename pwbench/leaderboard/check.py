"""``pwbench check``: is a leaderboard entry what it claims to be?

Each entry is checked for: a valid ``submission.yaml`` (schema, tier, links), file hashes (every
file listed, none missing, none extra, each sha256 equal), a valid run manifest whose origin
matches the tier and whose fingerprint equals the one the *current* protocol computes from its
manifest, the task's official eval clips (when the eval set can be resolved on this machine),
every clip's record present exactly once and ok, and a stored summary equal to the one recomputed
from the records. The optional parts are held to the same standard: ``shuffled/`` must be the same
model (same model.json), task, fingerprint and horizon run with shuffled actions, its records and
summary checked like the main run's; each ``seeds/<K>/`` must be the same model, task and horizon
run with true actions and ``--seed K`` (K its folder name, unlike the main run's and every other's)
on one subset of the main run's clips, checked the same way; ``media/`` may hold only a .webm and
a .json per manifest clip. Every problem is one line naming the entry and the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pwbench import protocol
from pwbench.errors import PwbenchError
from pwbench.io import dumps_json
from pwbench.leaderboard.submission import (
    MEDIA,
    SEEDS,
    SHUFFLED,
    SUBMISSION_FILE,
    TIER_OF_ORIGIN,
    Submission,
    entry_files,
    sha256,
)
from pwbench.results.run_dir import RunDir
from pwbench.results.summary import summarize


def find_entries(path: str | Path) -> list[Path]:
    """An entry folder itself, or every entry below a folder (``submissions/``)."""
    path = Path(path)
    if (path / SUBMISSION_FILE).is_file():
        return [path]
    return sorted(p.parent for p in path.rglob(SUBMISSION_FILE))


def check_entry(folder: Path, official: dict[str, str] | None = None) -> list[str]:
    """Problems of one entry (empty: it is what it claims). ``official``: task -> fingerprint of its
    official eval set (tasks missing from it are checked against their own manifest only)."""
    try:
        sub = Submission.read(folder / SUBMISSION_FILE)
    except PwbenchError as err:
        return [str(err)]
    if sub.tier == "reported":
        extra = entry_files(folder)
        return [f"{folder}: a reported entry carries files ({', '.join(extra[:3])})"] if extra else []
    problems = _hashes(folder, sub)
    if problems:
        return problems  # nothing below is trustworthy once a file differs from its hash
    run_dir = RunDir(folder)
    try:
        run = run_dir.read_manifest()
    except PwbenchError as err:
        return [str(err)]
    where = f"{folder}/run.json"
    if TIER_OF_ORIGIN[run.origin] != sub.tier:
        problems.append(f"{where}: origin {run.origin!r} makes a {TIER_OF_ORIGIN[run.origin]} entry, "
                        f"the submission claims {sub.tier!r}")
    for key in ("model", "task", "fingerprint"):
        if getattr(run, key) != getattr(sub, key):
            problems.append(f"{where}: {key} {getattr(run, key)!r} differs from the submission's "
                            f"{getattr(sub, key)!r}")
    task = protocol.TASKS.get(run.task)
    if task is None:
        return [*problems, f"{where}: unknown task {run.task!r}"]
    current = _fingerprint(task, run)
    if current != run.fingerprint:
        problems.append(f"{where}: fingerprint {run.fingerprint[:12]} is not what protocol "
                        f"v{protocol.PROTOCOL_VERSION} computes for its clips ({current[:12]}): a stale entry; "
                        "re-run it")
    elif official and run.task in official and current != official[run.task]:
        problems.append(f"{where}: not the official {run.task} eval set (another dataset revision, clip list or "
                        f"mask availability: {len(run.clips)} clips, revision {str(run.dataset.get('revision'))[:19]})")
    problems += _records(folder, run_dir, run)
    if not problems:
        problems += _summary(folder, run_dir, run)
    if (folder / SHUFFLED).exists():
        companion = RunDir(folder / SHUFFLED)
        more = companion_problems(run_dir, companion)
        if not more:
            shuffled = companion.read_manifest()
            more = _records(folder / SHUFFLED, companion, shuffled) or _summary(folder / SHUFFLED, companion, shuffled)
        problems += more
    if (folder / SEEDS).exists():
        problems += _seed_folders(folder / SEEDS, run_dir)
    media = folder / MEDIA
    if media.exists():
        clips = set(run.clip_ids)
        problems += [f"{p}: not a preview (.webm / .json) of a manifest clip" for p in sorted(media.rglob("*"))
                     if p.is_file() and (p.suffix not in (".webm", ".json") or p.stem not in clips
                                         or p.parent != media)]
    return problems


def companion_problems(main: RunDir, companion: RunDir) -> list[str]:
    """Why ``companion`` is not ``main``'s shuffled-action twin (empty: it is)."""
    try:
        run, other = main.read_manifest(), companion.read_manifest()
    except PwbenchError as err:
        return [str(err)]
    where = f"{companion.path}/run.json"
    if other.actions != "shuffled":
        return [f"{where}: actions {other.actions!r}; the action-sensitivity companion is a shuffled-action run"]
    problems = [f"{where}: {key} {getattr(other, key)!r} differs from the true-action run's {getattr(run, key)!r}"
                for key in ("model", "task", "fingerprint", "horizon") if getattr(other, key) != getattr(run, key)]
    if other.clip_ids != run.clip_ids:
        problems.append(f"{where}: another clip list than the true-action run's")
    if not problems and companion.model_spec() != main.model_spec():
        problems.append(f"{companion.path}/model.json: another model (options or weights) than the true-action run's")
    return problems


def _fingerprint(task: protocol.TaskSpec, run) -> str:
    """The fingerprint the current protocol computes for a run's clips."""
    manifest = {"dataset_id": run.dataset.get("dataset_id"), "revision": run.dataset.get("revision"),
                "masks": run.masks, "clips": [asdict(c) for c in run.clips]}
    if "mask_version" in run.dataset:  # SAM masks
        manifest["mask_version"] = run.dataset["mask_version"]
    return protocol.fingerprint(task, manifest)


def seed_problems(main: RunDir, seed_runs: list[RunDir]) -> list[str]:
    """Why ``seed_runs`` are not ``main``'s seed-noise runs (empty: they are): each the same model
    (same model.json), task and horizon with true actions, every run seed different, and all on the
    same clips, a subset of the main run's (clip entries equal)."""
    if not seed_runs:
        return []
    try:
        run = main.read_manifest()
        others = [r.read_manifest() for r in seed_runs]
    except PwbenchError as err:
        return [str(err)]
    problems, seen = [], {run.seed}
    entries = set(run.clips)
    for seed_run, other in zip(seed_runs, others, strict=True):
        where = f"{seed_run.path}/run.json"
        if other.actions != "true":
            problems.append(f"{where}: actions {other.actions!r}; a seed-noise run uses true actions")
        problems += [f"{where}: {key} {getattr(other, key)!r} differs from the main run's {getattr(run, key)!r}"
                     for key in ("model", "task", "horizon") if getattr(other, key) != getattr(run, key)]
        if other.seed in seen:
            problems.append(f"{where}: seed {other.seed} is already used by the main run or another seed run")
        seen.add(other.seed)
        if not set(other.clips) <= entries:
            problems.append(f"{where}: its clips are not a subset of the main run's")
        if other.clip_ids != others[0].clip_ids:
            problems.append(f"{where}: another clip list than {seed_runs[0].path}'s (seed runs share one subset)")
        if not problems and seed_run.model_spec() != main.model_spec():
            problems.append(f"{seed_run.path}/model.json: another model (options or weights) than the main run's")
    return problems


def _seed_folders(seeds: Path, main: RunDir) -> list[str]:
    folders = sorted(p for p in seeds.iterdir())
    stray = [f"{p}: not a seed run folder (seeds/<K>/ with K the run's --seed)" for p in folders
             if not p.is_dir() or not p.name.isdigit()]
    if stray:
        return stray
    runs = [RunDir(p) for p in folders]
    problems = seed_problems(main, runs)
    if problems:
        return problems
    for seed_run in runs:
        manifest = seed_run.read_manifest()
        if str(manifest.seed) != seed_run.path.name:
            problems.append(f"{seed_run.path}/run.json: seed {manifest.seed} in a folder named {seed_run.path.name}")
            continue
        if _fingerprint(protocol.TASKS[manifest.task], manifest) != manifest.fingerprint:
            problems.append(f"{seed_run.path}/run.json: its fingerprint is not what protocol "
                            f"v{protocol.PROTOCOL_VERSION} computes for its clips: a stale seed run; re-run it")
            continue
        problems += _records(seed_run.path, seed_run, manifest) or _summary(seed_run.path, seed_run, manifest)
    return problems


def _hashes(folder: Path, sub: Submission) -> list[str]:
    present = set(entry_files(folder))
    problems = [f"{folder}: {rel} is listed in {SUBMISSION_FILE} but missing"
                for rel in sorted(set(sub.files) - present)]
    problems += [f"{folder}: {rel} is not listed in {SUBMISSION_FILE} (an extra or duplicated file)"
                 for rel in sorted(present - set(sub.files))]
    problems += [f"{folder}/{rel}: sha256 differs from {SUBMISSION_FILE} (the file was changed)"
                 for rel in sorted(present & set(sub.files)) if sha256(folder / rel) != sub.files[rel]]
    return problems


def _records(folder: Path, run_dir: RunDir, run) -> list[str]:
    problems = []
    expected = set(run.clip_ids)
    stored = {p.stem for p in (folder / "clips").glob("*.json")}
    problems += [f"{folder}: clip {c} of the manifest has no record" for c in sorted(expected - stored)]
    problems += [f"{folder}/clips/{c}.json: not a clip of the manifest" for c in sorted(stored - expected)]
    for clip_id in sorted(expected & stored):
        try:
            record = run_dir.read_record(clip_id)
        except PwbenchError as err:
            problems.append(str(err))
            continue
        if record is None or not record.ok:
            reason = record.error if record else "unreadable"
            problems.append(f"{folder}/clips/{clip_id}.json: the clip failed ({reason})")
    return problems


def _summary(folder: Path, run_dir: RunDir, run) -> list[str]:
    path = folder / "summary.json"
    if not path.is_file():
        return [f"{folder}: no summary.json"]
    again = summarize(run, run_dir.records(run.clip_ids), run_dir.timings(), run_dir.model_spec())
    if dumps_json(again.to_json()) != path.read_text():
        stored = json.loads(path.read_text())
        fresh = json.loads(dumps_json(again.to_json()))
        differ = sorted(k for k in set(stored) | set(fresh) if stored.get(k) != fresh.get(k))
        return [f"{path}: differs from the summary recomputed from the records (fields {', '.join(differ)})"]
    return []


def official_fingerprints(tasks: set[str]) -> dict[str, str]:
    """The fingerprint of each task's official eval set that resolves on this machine (offline:
    the embedded droid-sim split; DROID only when its Hub snapshot is cached)."""
    from pwbench.data.evalset import select_clips
    from pwbench.data.tasks import open_dataset

    out = {}
    for name in sorted(tasks):
        task = protocol.TASKS.get(name)
        if task is None:
            continue
        try:
            dataset, revision = open_dataset(task, None, None)
            manifest = select_clips(task, dataset, revision)
        except (PwbenchError, OSError):
            continue
        out[name] = protocol.fingerprint(task, manifest)
    return out
