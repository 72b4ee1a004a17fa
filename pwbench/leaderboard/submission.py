"""A leaderboard entry: ``submissions/<task>/<entry>/`` with ``submission.yaml`` and its files.

    submission.yaml          who, what, which tier, and the sha256 of every other file
    run.json, model.json     the run manifest and model spec (verified and scored entries)
    clips/<clip_id>.json     every eval clip's record, exactly once
    timing/<clip_id>.json    seconds per clip (the summary's cost)
    summary.json             recomputable from the records (``pwbench check`` recomputes it)

Tiers: ``verified`` — the harness ran the model (``pwbench run``; run.json says origin "run");
``scored`` — the submitter sent predicted frames and ``pwbench score`` scored them (origin
"score"), so no submitter code ran; ``reported`` — numbers from a paper, with the citation, no
run files, never ranked with harness-produced rows.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import ClassVar

from pwbench import __version__
from pwbench.errors import PwbenchError
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ResultFile, SchemaError

SUBMISSION_FILE = "submission.yaml"
TIERS = ("verified", "scored", "reported")
TIER_OF_ORIGIN = {"run": "verified", "score": "scored"}
RUN_FILES = ("run.json", "model.json", "summary.json")


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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def entry_files(folder: Path) -> list[str]:
    """Every file of an entry but its submission.yaml, as sorted relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != SUBMISSION_FILE)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "entry"


def package(run_folder: str | Path, out: str | Path, authors: list[str], links: list[str] | None = None,
            license: str = "", training_compute: str | None = None, notes: str = "",
            name: str | None = None) -> Path:
    """Copy a finished run into ``out/<task>/<entry>/`` with a ``submission.yaml``; returns the folder.

    The tier follows from how the run was made (run.json's origin), never from a claim."""
    run_dir = RunDir(run_folder)
    run = run_dir.read_manifest()
    records = run_dir.records(run.clip_ids)
    not_ok = [c for c in run.clip_ids if c not in records or not records[c].ok]
    if not_ok:
        raise PwbenchError(f"{run_folder}: {len(not_ok)} of {len(run.clip_ids)} clips have no ok record "
                           f"(first: {not_ok[0]}); finish the run before submitting")
    if run.actions != "true":
        raise PwbenchError(f"{run_folder}: a run with {run.actions} actions is an action-sensitivity run, "
                           "not a leaderboard entry")
    spec = run_dir.model_spec()
    entry = slug(name or f"{run.model}-{spec.get('variant', '')}-{run.horizon_name or run.horizon}")
    folder = Path(out) / run.task / entry
    if folder.exists():
        raise PwbenchError(f"{folder} exists; remove it or choose another --name")
    (folder / "clips").mkdir(parents=True)
    (folder / "timing").mkdir()
    for name_ in RUN_FILES:
        if (run_dir.path / name_).is_file():
            shutil.copyfile(run_dir.path / name_, folder / name_)
    for clip_id in run.clip_ids:
        shutil.copyfile(run_dir.record_path(clip_id), folder / "clips" / f"{clip_id}.json")
        timing = run_dir.timing / f"{clip_id}.json"
        if timing.is_file():
            shutil.copyfile(timing, folder / "timing" / timing.name)
    submission = Submission(
        model=run.model, variant=str(spec.get("variant", "")), task=run.task, tier=TIER_OF_ORIGIN[run.origin],
        authors=tuple(authors), date=date.today().isoformat(), harness_version=__version__,
        links=tuple(links or ()), license=license, parameters=spec.get("num_parameters") or None,
        training_compute=training_compute, fingerprint=run.fingerprint,
        files={rel: sha256(folder / rel) for rel in entry_files(folder)}, notes=notes)
    submission.write_yaml(folder / SUBMISSION_FILE)
    return folder
