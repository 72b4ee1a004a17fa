"""Model options: declared by the factory's signature, checked before anything runs.

A factory is ``factory(task, device="cpu", *, name: type = default, ...)``: its keyword-only
parameters *are* its options, with their types and defaults, so a plugin declares them in the one
place it must write anyway. ``pwbench run --option KEY=VALUE`` is resolved against them before the
run folder is written: an unknown name (with a did-you-mean) or a value of the wrong type is a
one-line error, and the resolved options — every declared one, defaults included — are recorded
in ``run.json`` and are part of the run folder's identity, so a resumed run never mixes settings.
Range checks (``num_steps >= 1``) stay in the factory, which raises ``ValueError``.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from pwbench.errors import PwbenchError

# parameters every factory has that are not options
FIXED_PARAMETERS = ("task", "device")
SCALARS = (bool, int, float, str)


class OptionError(PwbenchError):
    """An ``--option`` the model does not declare, or a value of the wrong type."""


def declared(factory: Callable[..., Any], model: str) -> dict[str, tuple[type, Any]]:
    """The factory's options: name -> (scalar type, default)."""
    sig = inspect.signature(factory)
    try:
        hints = typing.get_type_hints(factory)
    except (NameError, TypeError) as err:
        raise OptionError(f"model {model!r}: cannot read the option types of its factory ({err})") from err
    out: dict[str, tuple[type, Any]] = {}
    for name, param in sig.parameters.items():
        if name in FIXED_PARAMETERS:
            continue
        if param.kind is param.VAR_KEYWORD:
            raise OptionError(f"model {model!r}: its factory takes **{name}; declare each option as a keyword "
                              "parameter with a type and a default (see pwbench.models.options)")
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.default is param.empty:
            raise OptionError(f"model {model!r}: factory parameter {name!r} has no default")
        out[name] = (_scalar(hints.get(name, type(param.default)), model, name), param.default)
    return out


def _scalar(hint: Any, model: str, name: str) -> type:
    """``int``, ``int | None``, ``Optional[int]`` ... -> int."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            hint = args[0]
    if hint not in SCALARS:
        raise OptionError(f"model {model!r}: option {name!r} must be typed bool, int, float or str "
                          f"(optionally | None), not {hint!r}")
    return hint


def resolve(factory: Callable[..., Any], model: str, given: dict[str, Any]) -> dict[str, Any]:
    """Check ``given`` against the declaration; returns every declared option (defaults filled)."""
    spec = declared(factory, model)
    unknown = [k for k in given if k not in spec]
    if unknown:
        key = unknown[0]
        if not spec:
            raise OptionError(f"model {model!r} takes no options (got --option {key}=...)")
        close = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise OptionError(f"model {model!r} has no option {key!r}{hint} (options: {', '.join(spec)})")
    resolved = {name: default for name, (_, default) in spec.items()}
    for key, value in given.items():
        kind, default = spec[key]
        # None stays None where it is the default (an option typed ``X | None``): resolving twice is a no-op
        resolved[key] = None if value is None and default is None else _coerce(value, kind, model, key)
    return resolved


def _coerce(value: Any, kind: type, model: str, key: str) -> Any:
    bad = OptionError(f"model {model!r}: option {key}={value!r} is not a valid {kind.__name__}")
    if kind is str:
        return str(value)  # `--option weights=123` parses as a number; a path is meant
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise bad
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # float
        raise bad
    return float(value)


def apply_threads(threads: int | None) -> None:
    """The ``threads`` option several factories declare: torch's CPU threads, if given."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
