"""Model registry: names -> lazy ``module:factory`` entries, built in or from the
``pwbench.models`` entry-point group (the shared mechanism is :mod:`pwbench.registry`).

A factory is ``factory(task: TaskSpec, device: str = "cpu", *, option: type = default, ...)
-> WorldModel``; its keyword parameters declare the model's options (:mod:`pwbench.models.options`).
Anything that goes wrong while loading or calling a factory is a :class:`ModelLoadError` naming
the model, so the CLI prints one line instead of a plugin's traceback.
"""

from __future__ import annotations

from typing import Any

from pwbench.errors import PwbenchError
from pwbench.models import options as model_options
from pwbench.models.base import WorldModel
from pwbench.protocol import TaskSpec
from pwbench.registry import Entry, LoadError, Registry

ENTRY_POINT_GROUP = "pwbench.models"

BUILTIN: dict[str, str] = {
    "copy-last": "pwbench.models.calibration:build_copy_last",
    "oracle": "pwbench.models.calibration:build_oracle",
}

MODELS = Registry("model", ENTRY_POINT_GROUP, BUILTIN)


class ModelLoadError(LoadError):
    """A registered model could not be built (the message names it and the cause): the same kind
    of failure as an entry that cannot be imported, one step later."""


def available() -> dict[str, Entry]:
    """Every registered model, sorted by name."""
    return MODELS.available()


def resolve(name: str) -> Entry:
    return MODELS.resolve(name)


def resolve_options(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked against the model's declared options, defaults filled in."""
    return model_options.resolve(resolve(name).load(), name, given)


def build(name: str, task: TaskSpec, device: str = "cpu", **options: Any) -> WorldModel:
    """Build a registered model for a task (options checked first)."""
    factory = resolve(name).load()
    resolved = model_options.resolve(factory, name, options)
    try:
        model = factory(task, device=device, **resolved)
    except PwbenchError:
        raise  # already a user-facing message (missing weights, ...)
    except Exception as err:
        raise ModelLoadError(f"model {name!r} could not be built: {type(err).__name__}: {err}") from err
    if not isinstance(model, WorldModel):
        raise ModelLoadError(f"model {name!r}: the factory returned {type(model).__name__}, not a WorldModel")
    return model
