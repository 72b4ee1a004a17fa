"""Merge run folders of the same run (e.g. shards run on different machines) into one.

Refuses what would make a wrong table: folders of different fingerprints, models or horizons,
a clip scored in two folders (duplicate), or a clip of the manifest scored in none (missing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pwbench.errors import RunMismatch
from pwbench.results.run_dir import RunDir


def merge(sources: list[Path], out: Path) -> RunDir:
    if not sources:
        raise RunMismatch("nothing to merge")
    dirs = [RunDir(s) for s in sources]
    runs = [d.read_manifest() for d in dirs]
    first = runs[0]
    for d, run in zip(dirs[1:], runs[1:], strict=True):
        key = run.differs(first)
        if key is not None:
            raise RunMismatch(f"{d.path} has {key}={getattr(run, key)!r}, "
                              f"{dirs[0].path} has {getattr(first, key)!r}")
    clip_ids = first.clip_ids
    owner: dict[str, RunDir] = {}
    duplicates = []
    for d in dirs:
        for clip_id, record in d.records(clip_ids).items():
            if not record.ok:
                continue
            if clip_id in owner:
                duplicates.append(f"{clip_id} ({owner[clip_id].path} and {d.path})")
            owner[clip_id] = d
    if duplicates:
        raise RunMismatch(f"duplicate clips: {', '.join(duplicates[:5])}{' ...' if len(duplicates) > 5 else ''}")
    missing = [c for c in clip_ids if c not in owner]
    if missing:
        raise RunMismatch(f"{len(missing)} clips of the manifest have no record: {', '.join(missing[:5])}"
                          f"{' ...' if len(missing) > 5 else ''}")
    target = RunDir(out)
    target.open(first)  # the harness facts (version, git hash, machine, date) become the merge's
    for clip_id, d in owner.items():
        for folder in ("clips", "timing"):
            src = d.path / folder / f"{clip_id}.json"
            if src.is_file():
                (target.path / folder).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target.path / folder / src.name)
    spec = dirs[0].path / "model.json"
    if spec.is_file():
        shutil.copyfile(spec, target.path / "model.json")
    return target
