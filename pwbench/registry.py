"""One registry mechanism for everything that plugs in by name: models, trainers (later rewards).

Like lm-evaluation-harness's newer registry: entries are ``module:attribute`` strings resolved
only when used, from a built-in table and from one entry-point group, discovered once per process
(:meth:`Registry.refresh` re-reads); an unknown name gets a did-you-mean error; a name registered
twice by different sources is an error, never a silent overwrite. Nothing is discovered by
naming convention.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pwbench.errors import PwbenchError


class UnknownName(PwbenchError, KeyError):
    """A name that is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class DuplicateName(PwbenchError, ValueError):
    """The same name was registered by two sources."""


class LoadError(PwbenchError):
    """A registered entry could not be imported or built (the message names it and the cause)."""


def suggest(name: str, known: list[str], kind: str) -> str:
    """``unknown <kind> 'x'; did you mean 'y'? (known: ...)``."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    target: str  # "module:attribute"
    source: str  # "builtin" or the distribution that declared the entry point

    def load(self) -> Any:
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as err:  # a plugin's import may fail in any way
            raise LoadError(f"{self.kind} {self.name!r}: cannot load {self.target} ({self.source}): "
                            f"{type(err).__name__}: {err}") from err
        return obj


class Registry:
    def __init__(self, kind: str, group: str, builtin: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.group = group
        self.builtin = builtin if builtin is not None else {}
        self._plugins: list[Entry] | None = None

    def refresh(self) -> None:
        """Forget the discovered entry points (after installing a plugin in-process, or in tests)."""
        self._plugins = None

    def _discover_plugins(self) -> list[Entry]:
        if self._plugins is None:
            self._plugins = [Entry(self.kind, ep.name, ep.value, ep.dist.name if ep.dist is not None else
                                   "unknown distribution") for ep in entry_points(group=self.group)]
        return self._plugins

    def available(self) -> dict[str, Entry]:
        """Every registered entry, sorted by name."""
        entries = {name: Entry(self.kind, name, target, "builtin") for name, target in self.builtin.items()}
        for entry in self._discover_plugins():
            other = entries.get(entry.name)
            if other is not None:
                if other.target == entry.target:  # the same entry seen twice (e.g. an editable install)
                    continue
                raise DuplicateName(f"{self.kind} {entry.name!r} is registered twice: {other.target} "
                                    f"({other.source}) and {entry.target} ({entry.source}); uninstall one of them")
            entries[entry.name] = entry
        return dict(sorted(entries.items()))

    def resolve(self, name: str) -> Entry:
        entries = self.available()
        if name not in entries:
            raise UnknownName(suggest(name, list(entries), self.kind))
        return entries[name]
