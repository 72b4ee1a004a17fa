"""`pwbench run` end to end: task -> eval set -> rollouts -> metrics -> records -> summary."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pwbench import dist, protocol
from pwbench.data import mask_store
from pwbench.data.evalset import EvalSet, eval_manifest
from pwbench.data.tasks import get_task
from pwbench.errors import PwbenchError, RunMismatch
from pwbench.models import build as build_model
from pwbench.models import resolve_options
from pwbench.paths import evalset_cache
from pwbench.results.run_dir import RunDir
from pwbench.results.schema import ClipEntry, RunManifest, Summary
from pwbench.results.summary import mask_note, write_summary
from pwbench.rollout import action_donors
from pwbench.scoring import score_clips

# what run.json records of the reference data: where it came from and, with SAM, whose masks
DATASET_KEYS = ("dataset_id", "revision", "source", "mask_version", "mask_views")


@dataclass(frozen=True)
class RunConfig:
    """A run, as typed on the command line; validated here and written into run.json."""

    model: str
    task: str = protocol.DEFAULT_TASK
    horizon: str = "11s"
    clips: int | None = None
    episodes: str | None = None  # "A:B": only clips of episodes A..B-1 (validation runs on a train split)
    out: str | None = None
    device: str = "cpu"
    data: str | None = None
    revision: str | None = None
    save_predictions: bool = False
    actions: str = "true"  # protocol.ACTION_REGIMES
    seed: int = 0  # the run's noise draw (0: the protocol's; others: the leaderboard's seed-noise runs)
    batch: int = 1  # clips rolled out in lockstep (models with step_batch); results depend on it
    clip_timeout: float | None = 3600.0  # seconds per clip rollout before it fails (None: no limit)
    model_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        protocol.horizon_frames(self.horizon)  # raises a clear ValueError on a bad horizon
        get_task(self.task)
        if self.seed < 0:
            raise PwbenchError(f"--seed must be 0 or more, got {self.seed}")
        if self.batch < 1:
            raise PwbenchError(f"--batch must be at least 1, got {self.batch}")
        if self.clip_timeout is not None and not self.clip_timeout > 0:
            raise PwbenchError(f"--clip-timeout must be positive, got {self.clip_timeout}")
        if self.clips is not None and self.clips < 1:
            raise PwbenchError(f"--clips must be at least 1, got {self.clips}")
        self.episode_range()  # raises a clear error on a bad range
        if self.actions not in protocol.ACTION_REGIMES:
            raise PwbenchError(f"--actions must be one of {', '.join(protocol.ACTION_REGIMES)}, got {self.actions!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise PwbenchError(f"--device must be cpu or cuda, got {self.device!r}")

    @classmethod
    def of_run(cls, run: RunManifest, **overrides: Any) -> RunConfig:
        """The configuration a finished run was made with (``overrides``: e.g. another out, data)."""
        cfg = run.config
        values = {"model": run.model, "task": run.task, "horizon": cfg["horizon"], "clips": cfg["clips"],
                  "episodes": cfg.get("episodes"), "data": cfg["data"], "revision": run.dataset["revision"],
                  "actions": run.actions, "seed": run.seed}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def episode_range(self) -> range | None:
        if self.episodes is None:
            return None
        lo, sep, hi = self.episodes.partition(":")
        if not sep or not lo.isdigit() or not hi.isdigit() or int(lo) >= int(hi):
            raise PwbenchError(f"--episodes must be A:B with A < B (episodes A..B-1), got {self.episodes!r}")
        return range(int(lo), int(hi))

    @property
    def frames(self) -> int:
        return protocol.horizon_frames(self.horizon)

    def out_dir(self) -> Path:
        suffix = ("" if self.actions == "true" else f"-{self.actions}") + (f"-seed{self.seed}" if self.seed else "")
        return Path(self.out) if self.out else Path("runs") / f"{self.task}-{self.model}-{self.horizon}{suffix}"


def prepare_eval_set(task: protocol.TaskSpec, config: RunConfig) -> EvalSet:
    """The run's eval set: the rule's clips for the run's horizon, checked against (or pinned
    as) the dataset's manifest (pwbench.data.pinned), then cut to --episodes / --clips."""
    dataset, manifest, pin = eval_manifest(task, config.data, config.revision, config.frames)
    wanted = config.episode_range()
    if wanted is not None:
        manifest["clips"] = [c for c in manifest["clips"] if c["episode_index"] in wanted]
        if not manifest["clips"]:
            raise PwbenchError(f"--episodes {config.episodes}: no eligible episode of {task.name} in that range")
    if config.clips is not None:
        manifest["clips"] = manifest["clips"][: config.clips]
    return EvalSet(task, mask_store.attach(task, manifest), evalset_cache(task.name), dataset, pin)


def evalset_of_run(run: RunManifest, config: RunConfig, where: str) -> EvalSet:
    """The eval set a finished run scored (its own clip list), from the cache; re-read from the
    dataset ``config`` names when the cache lacks a clip. Refused when the current protocol
    computes another fingerprint for the run's clips (``where``: the run folder, for the message)."""
    task = get_task(run.task)
    manifest = {"task": task.name, **run.dataset, "masks": run.masks, "clips": [asdict(c) for c in run.clips]}
    evalset = EvalSet(task, manifest, evalset_cache(task.name), None)
    if evalset.fingerprint != run.fingerprint:
        raise RunMismatch(f"{where}: run.json's fingerprint does not match protocol "
                          f"v{protocol.PROTOCOL_VERSION} for its clips")
    if any(not (evalset.dir / f"{c}.npz").is_file() for c in evalset.clip_ids):
        evalset = prepare_eval_set(task, config)
    return evalset


def run(config: RunConfig, progress: bool = True) -> Summary | None:
    """Run (or resume) a benchmark; returns the summary on the main rank.

    Nothing is written before the model name and options are resolved and the model is built,
    so a misspelt command leaves no run folder behind that would refuse the corrected one."""
    task = get_task(config.task)
    options = resolve_options(config.model, config.model_options)
    with dist.process_group(config.device) as rank:
        device = f"cuda:{rank.local_rank}" if config.device == "cuda" and rank.world_size > 1 else config.device
        if ":" in device:  # a plain "cuda" is the current device already
            import torch

            torch.cuda.set_device(torch.device(device))
        evalset = prepare_eval_set(task, config)
        run_dir = RunDir(config.out_dir())
        manifest = run_manifest(config, task, evalset, options)
        run_dir.check(manifest)
        if rank.is_main:
            note = mask_note(task.name, evalset.manifest["masks"], evalset.manifest, tuple(task.views))
            if note:
                print(f"pwbench run: note: {note} (recorded in summary.json)", file=sys.stderr)
            evalset.prepare(config.frames, progress=progress)
        dist.barrier()
        mine = [c for c in evalset.clip_ids if rank.owns(c)]
        todo = [c for c in mine if not run_dir.is_done(c)]
        model = build_model(config.model, task, device=device, **options) if todo else None
        if rank.is_main:
            run_dir.open(manifest)
        dist.barrier()
        if model is not None:
            run_dir.open_model(asdict(model.spec))
            _roll_out(model, config, task, evalset, run_dir, todo, device, progress and rank.is_main)
        dist.barrier()
        if not rank.is_main:
            return None
        return write_summary(run_dir)


def _roll_out(model, config: RunConfig, task: protocol.TaskSpec, evalset: EvalSet, run_dir: RunDir,
              todo: list[str], device: str, progress: bool) -> None:
    from pwbench.metrics import FrameScorer

    scorer = FrameScorer(device=device)
    bar = tqdm(total=len(todo), desc=f"{config.model} on {task.name}", unit="clip", disable=not progress)
    donors = action_donors(evalset.clip_ids, evalset.fingerprint) if config.actions == "shuffled" else {}
    for lo in range(0, len(todo), config.batch):
        batch = todo[lo:lo + config.batch]
        for record, timing in score_clips(model, scorer, evalset, run_dir, batch, donors, config, device):
            run_dir.write_record(record, timing)
            if not record.ok:
                bar.write(f"failed: {record.error}")
            bar.update(1)
    bar.close()


def run_manifest(config: RunConfig, task: protocol.TaskSpec, evalset: EvalSet,
                 model_options: dict[str, Any]) -> RunManifest:
    return RunManifest(
        fingerprint=evalset.fingerprint,
        model=config.model,
        horizon=config.frames,
        horizon_name=config.horizon,
        task=task.name,
        views=tuple(task.views),
        resolution=tuple(task.resolution),
        regime=protocol.REGIME,
        actions=config.actions,
        seed=config.seed,
        model_options=model_options,  # resolved: every declared option, defaults included
        action_donors=action_donors(evalset.clip_ids, evalset.fingerprint) if config.actions == "shuffled" else None,
        dataset={k: evalset.manifest[k] for k in DATASET_KEYS if k in evalset.manifest},
        masks="available" if evalset.has_masks else "unavailable",
        clips=tuple(ClipEntry(**c) for c in evalset.manifest["clips"]),
        config=asdict(config),
    )
