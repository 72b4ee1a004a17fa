"""A leaderboard entry: ``submissions/<task>/<entry>/`` with ``submission.yaml`` and its files.

    submission.yaml          who, what, which tier, and the sha256 of every other file
    run.json, model.json     the run manifest and model spec (verified and scored entries)
    clips/<clip_id>.json     every eval clip's record, exactly once
    timing/<clip_id>.json    seconds per clip (the summary's cost)
    summary.json             recomputable from the records (``pwbench check`` recomputes it)
    shuffled/                optional: the same model's shuffled-action run on the same clips
                             (run.json, model.json, clips/, summary.json): the action-sensitivity column
    seeds/<K>/               optional: the same model run with ``pwbench run --seed K`` on a subset of the
                             clips (same files as shuffled/): the seed-noise figure and flags
    media/<clip_id>.webm     optional: preview video per clip (truth | prediction | difference | mask)
    media/<clip_id>.json     and its action trajectory, made from the run's saved predictions

Tiers: ``verified`` — the harness ran the model (``pwbench run``; run.json says origin "run");
``scored`` — the submitter sent predicted frames and ``pwbench score`` scored them (origin
"score"), so no submitter code ran; ``reported`` — numbers from a paper, with the citation, no
run files, never ranked with harness-produced rows.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar

import numpy as np

from pwbench import __version__
from pwbench.errors import PwbenchError
from pwbench.io import sha256_file as sha256
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ResultFile, SchemaError

SUBMISSION_FILE = "submission.yaml"
TIERS = ("verified", "scored", "reported")
TIER_OF_ORIGIN = {"run": "verified", "score": "scored"}
RUN_FILES = ("run.json", "model.json", "summary.json")
SHUFFLED = "shuffled"
SEEDS = "seeds"
MEDIA = "media"


@dataclass(frozen=True)
class Submission(ResultFile):
    SCHEMA: ClassVar[str] = "pwbench.submission/1"

    model: str
    task: str
    tier: str
    authors: tuple[str, ...]
    date: str
    harness_version: str
    variant: str = ""
    links: tuple[str, ...] = ()
    license: str = ""
    parameters: int | None = None
    training_compute: str | None = None
    fingerprint: str | None = None  # verified and scored entries
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    citation: str | None = None  # reported entries
    # reported entries: horizon name -> group -> metric key -> value, as the paper prints them
    reported: dict[str, dict[str, dict[str, float]]] | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise SchemaError(f"tier {self.tier!r} is not one of {', '.join(TIERS)}")
        bad = [link for link in self.links if not re.match(r"^https?://", link)]
        if bad:
            raise SchemaError(f"links must be http(s) URLs, got {bad[0]!r}")
        if self.tier == "reported":
            if not self.citation or not self.reported:
                raise SchemaError("a reported entry needs its citation and the reported numbers")
            if self.files:
                raise SchemaError("a reported entry carries no run files (its numbers are the paper's)")
        elif not self.fingerprint or not self.files:
            raise SchemaError(f"a {self.tier} entry needs its protocol fingerprint and file hashes")

    def write_yaml(self, path: str | Path) -> None:
        import yaml

        from pwbench.io import atomic_write_bytes

        atomic_write_bytes(path, yaml.safe_dump(self.to_json(), sort_keys=True, allow_unicode=True).encode())


def entry_files(folder: Path) -> list[str]:
    """Every file of an entry but its submission.yaml, as sorted relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != SUBMISSION_FILE)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "entry"


def _copy_run(run_dir: RunDir, clip_ids: list[str], folder: Path) -> None:
    """The files the summary is recomputed from (timings included: they are its cost)."""
    (folder / "clips").mkdir(parents=True)
    (folder / "timing").mkdir()
    for name in RUN_FILES:
        if (run_dir.path / name).is_file():
            shutil.copyfile(run_dir.path / name, folder / name)
    for clip_id in clip_ids:
        shutil.copyfile(run_dir.record_path(clip_id), folder / "clips" / f"{clip_id}.json")
        path = run_dir.timing / f"{clip_id}.json"
        if path.is_file():
            shutil.copyfile(path, folder / "timing" / path.name)


def _finished(run_dir: RunDir, run) -> None:
    records = run_dir.records(run.clip_ids)
    not_ok = [c for c in run.clip_ids if c not in records or not records[c].ok]
    if not_ok:
        raise PwbenchError(f"{run_dir.path}: {len(not_ok)} of {len(run.clip_ids)} clips have no ok record "
                           f"(first: {not_ok[0]}); finish the run before submitting")


def _media(run_dir: RunDir, run, folder: Path, progress: bool) -> None:
    """Preview videos from the run's saved predictions (``pwbench run --save-predictions``)."""
    from tqdm import tqdm

    from pwbench.leaderboard.media import write_clip_media
    from pwbench.runner import RunConfig, evalset_of_run

    evalset = evalset_of_run(run, RunConfig.of_run(run), str(run_dir.path))
    evalset.prepare(run.horizon, progress=False)
    (folder / MEDIA).mkdir()
    for clip_id in tqdm(run.clip_ids, desc="clip previews", unit="clip", disable=not progress):
        with np.load(run_dir.predictions / f"{clip_id}.npz", allow_pickle=False) as stored:
            frames = {k: stored[k] for k in stored.files}
        write_clip_media(evalset.load(clip_id), frames, run.horizon, folder / MEDIA)


def package(run_folder: str | Path, out: str | Path, authors: list[str], links: list[str] | None = None,
            license: str = "", training_compute: str | None = None, notes: str = "",
            name: str | None = None, shuffled: str | Path | None = None, seeds: list[str | Path] = (),
            media: bool = True, progress: bool = True) -> Path:
    """Copy a finished run into ``out/<task>/<entry>/`` with a ``submission.yaml``; returns the folder.

    The tier follows from how the run was made (run.json's origin), never from a claim.
    ``shuffled``: the same model's finished shuffled-action run of the same clips (packaged under
    ``shuffled/``); ``seeds``: the same model's finished runs with other ``--seed`` values on one subset of
    the clips (packaged under ``seeds/<K>/``); ``media``: make clip previews when the run saved its
    predictions."""
    from pwbench.leaderboard.check import companion_problems, seed_problems

    run_dir = RunDir(run_folder)
    run = run_dir.read_manifest()
    _finished(run_dir, run)
    if run.actions != "true":
        raise PwbenchError(f"{run_folder}: a run with {run.actions} actions is an action-sensitivity run, "
                           "not a leaderboard entry (give it as --shuffled of the true-action run)")
    if shuffled is not None:
        companion = RunDir(shuffled)
        problems = companion_problems(run_dir, companion)
        if problems:
            raise PwbenchError(problems[0])
        _finished(companion, companion.read_manifest())
    seed_runs = [RunDir(path) for path in seeds]
    problems = seed_problems(run_dir, seed_runs)
    if problems:
        raise PwbenchError(problems[0])
    for seed_run in seed_runs:
        _finished(seed_run, seed_run.read_manifest())
    spec = run_dir.model_spec()
    entry = slug(name or f"{run.model}-{spec.get('variant', '')}-{run.horizon_name or run.horizon}")
    folder = Path(out) / run.task / entry
    if folder.exists():
        raise PwbenchError(f"{folder} exists; remove it or choose another --name")
    try:
        _copy_run(run_dir, run.clip_ids, folder)
        if shuffled is not None:
            _copy_run(companion, run.clip_ids, folder / SHUFFLED)
        for seed_run in seed_runs:
            manifest = seed_run.read_manifest()
            _copy_run(seed_run, manifest.clip_ids, folder / SEEDS / str(manifest.seed))
        has_predictions = all((run_dir.predictions / f"{c}.npz").is_file() for c in run.clip_ids)
        if media and has_predictions:
            _media(run_dir, run, folder, progress)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no half-made entry that check would reject
        raise
    submission = Submission(
        model=run.model, variant=str(spec.get("variant", "")), task=run.task, tier=TIER_OF_ORIGIN[run.origin],
        authors=tuple(authors), date=date.today().isoformat(), harness_version=__version__,
        links=tuple(links or ()), license=license, parameters=spec.get("num_parameters") or None,
        training_compute=training_compute, fingerprint=run.fingerprint,
        files={rel: sha256(folder / rel) for rel in entry_files(folder)}, notes=notes)
    submission.write_yaml(folder / SUBMISSION_FILE)
    return folder
