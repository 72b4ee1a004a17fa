"""Model registry: names -> lazy ``module:factory`` entries, from code and from entry points.

Like lm-evaluation-harness's newer registry: entries are resolved only when a model is built,
unknown names get a did-you-mean error, and a name registered twice is an error (never a
silent overwrite). Out-of-tree models register through the ``pwbench.models`` entry-point
group; nothing is discovered by naming convention.

A factory is ``factory(task: TaskSpec, device: str = "cpu", *, option: type = default, ...)
-> WorldModel``; its keyword parameters declare the model's options (:mod:`pwbench.models.options`).
Anything that goes wrong while loading or calling a factory is a :class:`ModelLoadError` naming
the model, so the CLI prints one line instead of a plugin's traceback.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pwbench.errors import PwbenchError
from pwbench.models import options as model_options
from pwbench.models.base import WorldModel
from pwbench.protocol import TaskSpec

ENTRY_POINT_GROUP = "pwbench.models"

BUILTIN: dict[str, str] = {
    "copy-last": "pwbench.models.calibration:build_copy_last",
    "oracle": "pwbench.models.calibration:build_oracle",
}


class UnknownModel(KeyError):
    """A model name that is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class DuplicateModel(ValueError):
    """The same model name was registered by two sources."""


class ModelLoadError(PwbenchError):
    """A registered model could not be imported or built (the message names it and the cause)."""


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attribute"
    source: str  # "builtin" or the distribution that declared the entry point

    def load(self) -> Callable[..., WorldModel]:
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as err:  # a plugin's import may fail in any way
            raise ModelLoadError(f"model {self.name!r}: cannot load {self.target} ({self.source}): "
                                 f"{type(err).__name__}: {err}") from err
        return obj

    def options(self, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` checked against the factory's declared options, defaults filled in."""
        return model_options.resolve(self.load(), self.name, given)


def _discover() -> dict[str, Entry]:
    entries = {name: Entry(name, target, "builtin") for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        source = ep.dist.name if ep.dist is not None else "unknown distribution"
        if ep.name in entries:
            other = entries[ep.name]
            if other.target == ep.value:  # the same entry seen twice (e.g. an editable install)
                continue
            raise DuplicateModel(f"model {ep.name!r} is registered twice: {other.target} ({other.source}) "
                                 f"and {ep.value} ({source}); uninstall one of them")
        entries[ep.name] = Entry(ep.name, ep.value, source)
    return entries


def available() -> dict[str, Entry]:
    """Every registered model, sorted by name."""
    return dict(sorted(_discover().items()))


def resolve(name: str) -> Entry:
    entries = available()
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModel(f"unknown model {name!r}{hint} (known: {', '.join(entries)})")


def build(name: str, task: TaskSpec, device: str = "cpu", **options: Any) -> WorldModel:
    """Build a registered model for a task (options checked first)."""
    entry = resolve(name)
    resolved = entry.options(options)
    try:
        model = entry.load()(task, device=device, **resolved)
    except PwbenchError:
        raise  # already a user-facing message (missing weights, ...)
    except Exception as err:
        raise ModelLoadError(f"model {name!r} could not be built: {type(err).__name__}: {err}") from err
    if not isinstance(model, WorldModel):
        raise ModelLoadError(f"model {name!r}: the factory returned {type(model).__name__}, not a WorldModel")
    return model
