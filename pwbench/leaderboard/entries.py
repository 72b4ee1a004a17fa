"""Published entries: what ``pwbench check`` accepted, read once for the site.

An entry's optional parts (written by ``pwbench submit``): ``shuffled/`` — the same model run with
shuffled actions on the same clips (the action-sensitivity column), ``seeds/<K>/`` — the same model
run with other seeds on a subset of the clips (the seed-noise figure and flags), and ``media/`` — a
preview video and the action trajectory per clip (the clip pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pwbench.leaderboard.check import check_entry, find_entries, official_fingerprints
from pwbench.leaderboard.submission import MEDIA, SEEDS, SHUFFLED, SUBMISSION_FILE, Submission, slug
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ClipRecord, RunManifest, Summary

CALIBRATION = ("copy-last", "oracle")


@dataclass
class Entry:
    folder: Path
    slug: str
    sub: Submission
    summary: Summary | None = None
    records: dict[str, ClipRecord] | None = None
    shuffled: dict[str, ClipRecord] | None = None  # the shuffled-action companion run's records
    seed: int = 0  # the main run's --seed
    seeds: dict[int, dict[str, ClipRecord]] = field(default_factory=dict)  # seed-noise runs: seed -> records
    media: dict[str, Path] = field(default_factory=dict)  # clip id -> preview video

    @property
    def kind(self) -> str:
        if self.sub.tier == "reported":
            return "reported"
        return "calibration" if self.sub.model in CALIBRATION else "model"

    @property
    def harness(self) -> bool:
        """Rows the harness produced (verified or scored): the ones that can be paired clip by clip."""
        return self.records is not None


def _read_run(folder: Path) -> tuple[RunManifest, dict[str, ClipRecord]]:
    """A run folder's manifest and its clips' records (the manifest read once)."""
    run_dir = RunDir(folder)
    run = run_dir.read_manifest()
    return run, run_dir.records(run.clip_ids)


def load(path: str | Path, official_only: bool = True) -> tuple[list[Entry], list[dict[str, str]]]:
    """Published entries (checked) and the excluded ones with their first problem.
    ``official_only=False`` (a preview of development runs) also publishes entries of other eval
    sets; every other check still applies."""
    folders = find_entries(path)
    tasks = set()
    for f in folders:
        try:
            tasks.add(Submission.read(f / SUBMISSION_FILE).task)
        except Exception:  # noqa: BLE001 - check_entry reports it
            pass
    official = official_fingerprints(tasks) if official_only else None
    entries, excluded, slugs = [], [], set()
    for folder in folders:
        problems = check_entry(folder, official)
        if problems:
            excluded.append({"folder": folder.name, "reason": problems[0]})
            continue
        sub = Submission.read(folder / SUBMISSION_FILE)
        name = slug(f"{sub.task}-{folder.name}")
        while name in slugs:
            name += "-x"
        slugs.add(name)
        entry = Entry(folder, name, sub)
        if sub.tier != "reported":
            entry.summary = Summary.read(folder / "summary.json")
            run, entry.records = _read_run(folder)
            entry.seed = run.seed
            entry.seeds = {int(p.name): _read_run(p)[1] for p in sorted((folder / SEEDS).glob("*"))
                           if (p / "run.json").is_file()}
            if (folder / SHUFFLED / "run.json").is_file():
                entry.shuffled = _read_run(folder / SHUFFLED)[1]
            entry.media = {p.stem: p for p in sorted((folder / MEDIA).glob("*.webm"))}
        entries.append(entry)
    return entries, excluded
