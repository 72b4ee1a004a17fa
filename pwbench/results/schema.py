"""Typed, versioned result files: ``run.json``, ``clips/<clip_id>.json`` and ``summary.json``.

Each file type is a frozen dataclass carrying its schema string. ``from_json`` validates a parsed
JSON object against the field annotations (unknown fields, missing fields and wrong types are
errors naming the file and the field), refuses a schema version this pwbench does not read, and
upgrades older versions it knows; ``to_json`` gives the object written to disk (``dumps_json``
sorts keys, so records stay byte-reproducible). `run`, `score`, `merge`, `compare`, `status` and
the leaderboard all read these objects instead of trusting a dict's keys.

The free-form parts (a model's options and spec, the machine, the nested results table) stay
JSON mappings: their shape belongs to the model or to ``summary.py``, not to the file format.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from pwbench import protocol
from pwbench.errors import PwbenchError, RunMismatch

RUN_SCHEMA = "pwbench.run/1"
RECORD_SCHEMA = "pwbench.clip/2"  # 2: excluded_frames per metric and region
SUMMARY_SCHEMA = "pwbench.summary/2"  # 2: excluded_frames per metric and region

METRIC_KEYS: tuple[str, ...] = tuple(f"{m}_{r}" for m in protocol.METRICS for r in protocol.REGIONS)
REGION_KEYS: tuple[str, ...] = tuple(k for k in METRIC_KEYS if not k.endswith("_full"))
# run folders written before typed options did not record the resolved options
OPTIONS_NOT_RECORDED = "not recorded (a folder from before typed options)"


class SchemaError(PwbenchError):
    """A result file that does not match its schema; the message names the file and the field."""


T = TypeVar("T", bound="ResultFile")


@dataclass(frozen=True)
class ResultFile:
    """Base of the three file types: schema check, upgrade, typed read, plain write."""

    SCHEMA: ClassVar[str]
    # older schema string -> function turning such an object into the next version's
    UPGRADES: ClassVar[dict[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {}

    @classmethod
    def from_json(cls: type[T], data: Any, where: str) -> T:
        if not isinstance(data, dict):
            raise SchemaError(f"{where}: expected a JSON object, found {type(data).__name__}")
        seen = set()
        while data.get("schema") in cls.UPGRADES and data.get("schema") not in seen:
            seen.add(data.get("schema"))
            try:
                data = cls.UPGRADES[data["schema"]](dict(data))
            except SchemaError as err:
                raise SchemaError(f"{where}: {err}") from None
        if data.get("schema") != cls.SCHEMA:
            raise SchemaError(f"{where}: schema {data.get('schema')!r}; this pwbench reads {cls.SCHEMA!r}")
        return _build(cls, {k: v for k, v in data.items() if k != "schema"}, where, "")

    @classmethod
    def read(cls: type[T], path: str | Path) -> T:
        """A JSON file, or a YAML one (``.yaml``: submission metadata people edit by hand)."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
            data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise SchemaError(f"{path}: unreadable ({type(err).__name__}: {first})") from err
        return cls.from_json(data, str(path))

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **_plain(self)}

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


# ---- the files -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClipEntry:
    """One clip of the eval manifest (part of the fingerprint)."""

    clip_id: str
    episode_index: int
    start_frame: int
    frames_available: int


@dataclass(frozen=True)
class RunManifest(ResultFile):
    """``run.json``: what was run; written before any rollout, compared on resume."""

    SCHEMA: ClassVar[str] = RUN_SCHEMA
    IDENTITY: ClassVar[tuple[str, ...]] = ("fingerprint", "model", "horizon", "actions", "seed", "model_options")

    fingerprint: str
    model: str
    horizon: int
    task: str
    views: tuple[str, ...]
    clips: tuple[ClipEntry, ...]
    horizon_name: str | None = None
    resolution: tuple[int, ...] | None = None
    regime: str = protocol.REGIME
    actions: str = "true"  # folders from before --actions ran true actions
    seed: int = 0  # the run's noise draw (rollout.clip_seed); folders from before --seed drew seed 0
    model_options: dict[str, Any] | str = OPTIONS_NOT_RECORDED
    action_donors: dict[str, str] | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    masks: str = "available"
    origin: str = "run"  # "run": the harness rolled the model out; "score": saved predictions were scored
    config: dict[str, Any] = field(default_factory=dict)
    harness_version: str | None = None
    git_hash: str | None = None
    machine: dict[str, Any] | None = None
    created: str | None = None

    def __post_init__(self) -> None:
        if self.actions not in protocol.ACTION_REGIMES:
            raise SchemaError(f"actions {self.actions!r} is not one of {protocol.ACTION_REGIMES}")
        if self.masks not in ("available", "unavailable"):
            raise SchemaError(f"masks {self.masks!r} is neither 'available' nor 'unavailable'")
        if self.origin not in ("run", "score"):
            raise SchemaError(f"origin {self.origin!r} is neither 'run' nor 'score'")

    @property
    def clip_ids(self) -> list[str]:
        return [c.clip_id for c in self.clips]

    def differs(self, other: RunManifest) -> str | None:
        """The first identity field on which two manifests disagree, or None."""
        return next((key for key in self.IDENTITY if getattr(self, key) != getattr(other, key)), None)


def _upgrade_clip_1(data: dict[str, Any]) -> dict[str, Any]:
    # clip/1 counted only masked-PSNR exclusions; the per-metric counts follow from its values
    data.pop("masked_frames_excluded", None)
    if data.get("status") == "ok" and isinstance(data.get("metrics"), dict):
        data["excluded_frames"] = excluded_counts(data["metrics"])
    data["schema"] = RECORD_SCHEMA
    return data


@dataclass(frozen=True)
class ClipRecord(ResultFile):
    """``clips/<clip_id>.json``: one clip's per-frame, per-view metrics, or why it failed.

    Nothing in it varies between two runs of the same command (timings live in ``timing/``),
    so a resumed run writes byte-identical records to an uninterrupted one."""

    SCHEMA: ClassVar[str] = RECORD_SCHEMA
    UPGRADES: ClassVar[dict] = {"pwbench.clip/1": _upgrade_clip_1}

    fingerprint: str
    clip_id: str
    model: str
    horizon: int
    status: str
    # view -> metric key -> per-frame value (None: excluded frame)
    metrics: dict[str, dict[str, tuple[float | None, ...]]] | None = None
    mask_coverage: dict[str, tuple[float | None, ...]] | None = None
    excluded_frames: dict[str, dict[str, int]] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status == "ok":
            missing = [n for n in ("metrics", "mask_coverage", "excluded_frames") if getattr(self, n) is None]
            if missing or self.error is not None:
                raise SchemaError(f"clip {self.clip_id}: an ok record needs metrics, mask_coverage and "
                                  f"excluded_frames and no error (missing: {', '.join(missing) or 'none'})")
            for view, values in self.metrics.items():
                absent = [k for k in METRIC_KEYS if k not in values]
                wrong = [k for k, v in values.items() if len(v) != self.horizon]
                if absent or wrong:
                    raise SchemaError(f"clip {self.clip_id}: view {view}: metrics missing {absent} or not "
                                      f"{self.horizon} frames long {wrong}")
        elif self.status == "failed":
            if self.error is None or self.metrics is not None:
                raise SchemaError(f"clip {self.clip_id}: a failed record has an error and no metrics")
        else:
            raise SchemaError(f"clip {self.clip_id}: status {self.status!r} is neither 'ok' nor 'failed'")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def scored(cls, fingerprint: str, clip_id: str, model: str, horizon: int,
               scores: dict[str, dict[str, Any]]) -> ClipRecord:
        """A scored clip. ``scores``: view -> FrameScorer output (metric key -> per-frame values)."""
        metrics = {view: {key: _floats(out[key]) for key in METRIC_KEYS} for view, out in scores.items()}
        return cls(fingerprint=fingerprint, clip_id=clip_id, model=model, horizon=horizon, status="ok",
                   metrics=metrics, mask_coverage={view: _floats(out["mask_coverage"]) for view, out in scores.items()},
                   excluded_frames=excluded_counts(metrics))

    @classmethod
    def failed(cls, fingerprint: str, clip_id: str, model: str, horizon: int, reason: str) -> ClipRecord:
        return cls(fingerprint=fingerprint, clip_id=clip_id, model=model, horizon=horizon, status="failed",
                   error=reason)

    def belongs_to(self, run: RunManifest, clip_id: str, where: str) -> None:
        """Refuse (RunMismatch) a record of another run (copied in, or left by another run)."""
        for key, value in (("clip_id", clip_id), ("fingerprint", run.fingerprint), ("model", run.model),
                           ("horizon", run.horizon)):
            if getattr(self, key) != value:
                raise RunMismatch(f"{where}: record has {key}={getattr(self, key)!r}, the run has {value!r}; "
                                  "it belongs to another run (move it away to redo the clip)")


@dataclass(frozen=True)
class ClipCounts:
    total: int
    ok: int
    failed: int
    missing: int


@dataclass(frozen=True)
class Failure:
    clip_id: str
    error: str


@dataclass(frozen=True)
class Cost:
    """Seconds per predicted frame (all views of one time step), as the 1X challenge reports."""

    seconds_per_frame: float | None
    rollout_seconds: float
    frames: int
    device: str


def _upgrade_summary_1(data: dict[str, Any]) -> dict[str, Any]:
    # summary/1 first counted only masked-PSNR exclusions (masked_frames_excluded), later per
    # metric under the same name; the first shape cannot be upgraded, but its records can
    if "masked_frames_excluded" in data:
        raise SchemaError("a summary from before per-metric exclusion counts (pwbench.summary/1); it is "
                          "rebuilt from the run's records by `pwbench merge NEW_FOLDER RUN_FOLDER`")
    data["schema"] = SUMMARY_SCHEMA
    return data


@dataclass(frozen=True)
class Summary(ResultFile):
    """``summary.json``: every grid horizon, group and metric with bootstrap CIs, plus cost; built
    only from the manifest and the records, so it can be recomputed and checked at any time."""

    SCHEMA: ClassVar[str] = SUMMARY_SCHEMA
    UPGRADES: ClassVar[dict] = {"pwbench.summary/1": _upgrade_summary_1}

    fingerprint: str
    task: str
    model: str
    horizon: int
    horizons: tuple[str, ...]  # grid order (the results mapping is key-sorted on disk)
    regime: str
    actions: str
    masks: str
    clips: ClipCounts
    failures: tuple[Failure, ...]
    excluded_frames: dict[str, int]
    cost: Cost
    # horizon name -> group -> metric key -> "up_to"/"at" -> bootstrap estimate (mean, ci_low, ...)
    results: dict[str, dict[str, dict[str, dict[str, dict[str, Any]]]]]
    # group -> metric key -> per-frame mean over clips (the drift curve)
    curves: dict[str, dict[str, tuple[float | None, ...]]]
    model_spec: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    harness_version: str | None = None
    git_hash: str | None = None
    machine: dict[str, Any] | None = None
    mask_note: str | None = None  # why masked rows are empty (no masks, or SAM's exterior-only masks)

    @property
    def label(self) -> str:
        """The model name, marked when the run did not use the clips' own actions."""
        return self.model if self.actions == "true" else f"{self.model} ({self.actions} actions)"


# ---- helpers -------------------------------------------------------------------------------

def excluded_counts(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Frames left out of a region's means, per view and metric (the rules differ per metric:
    too little mask coverage, or for SSIM a mask wholly inside the cropped border)."""
    return {view: {key: int(sum(v is None for v in values[key])) for key in REGION_KEYS}
            for view, values in metrics.items()}


def _floats(values: Any) -> tuple[float | None, ...]:
    import numpy as np

    return tuple(None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64).tolist())


def _plain(value: Any) -> Any:
    """A dataclass tree as JSON-ready values (None-valued optional fields left out)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None and f.default is None:
                continue
            out[f.name] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _build(cls: type, data: Any, where: str, path: str) -> Any:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: {path or 'the file'} must be an object, found {_kind(data)}")
    hints = _HINTS.setdefault(cls, get_type_hints(cls))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SchemaError(f"{where}: unknown field {_join(path, unknown[0])} in {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"{where}: missing field {_join(path, name)}")
            continue
        kwargs[name] = _typed(data[name], hints[name], where, _join(path, name))
    try:
        return cls(**kwargs)
    except SchemaError as err:
        raise SchemaError(f"{where}: {err}") from None


def _typed(value: Any, hint: Any, where: str, path: str) -> Any:
    """``value`` checked against a type annotation (lists become tuples where annotated so)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        if value is None and len(present) < len(args):
            return None
        if len(present) == 1 and _container(present[0]) == _kind(value):
            return _typed(value, present[0], where, path)  # the deep error names the inner field
        for option in present:
            try:
                return _typed(value, option, where, path)
            except SchemaError:
                pass
        names = " or ".join(_name(a) for a in args)
        raise SchemaError(f"{where}: {path} must be {names}, found {_kind(value)}")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where, path)
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise SchemaError(f"{where}: {path} must be a list, found {_kind(value)}")
        if _is_optional_float(args[0]):  # per-frame values: the bulk of every record, checked in one pass
            items = [v if v is None or type(v) is float else float(v) if type(v) is int
                     else _typed(v, args[0], where, f"{path}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
        items = [_typed(v, args[0], where, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: {path} must be an object, found {_kind(value)}")
        return {k: _typed(v, args[1], where, f"{path}.{k}") for k, v in value.items()}
    if hint is type(None):
        if value is not None:
            raise SchemaError(f"{where}: {path} must be null, found {_kind(value)}")
        return None
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{where}: {path} must be a number, found {_kind(value)}")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise SchemaError(f"{where}: {path} must be {_name(hint)}, found {_kind(value)}")
        return value
    raise TypeError(f"schema annotation {hint!r} at {path} is not supported")  # a bug in this module


def _is_optional_float(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType) and set(get_args(hint)) == {float, type(None)}


def _container(hint: Any) -> str | None:
    """The JSON kind a container annotation expects (None for scalars)."""
    origin = get_origin(hint)
    if origin in (tuple, list):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "an object"
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    origin = get_origin(hint)
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "an object"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
