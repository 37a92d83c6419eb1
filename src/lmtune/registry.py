"""Name -> class registries: tasks, methods, adversarial attacks, augmenters, acquisition functions, export formats.

Loud by design: a duplicate name raises at import time, and an unknown name answers with the
known ones and the closest match.
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import ConfigError, closest

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        if not name or name != name.strip().lower() or " " in name:
            raise ValueError(f"{self.kind} name {name!r} must be a short lower-case name without spaces")

        def add(cls: type[T]) -> type[T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice: {self._items[name]} and {cls}")
            cls.registry_name = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return add

    def get(self, name: str) -> type[T]:
        if name in self._items:
            return self._items[name]
        if ":" in name:  # plugin escape hatch: package.module:Class
            import importlib

            module, _, attr = name.partition(":")
            return getattr(importlib.import_module(module), attr)
        hint = closest(name, self.names())
        raise ConfigError(
            f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}.",
            fix=f"use {hint!r}." if hint else f"pick one of {', '.join(self.names())}.",
        )

    def names(self) -> list[str]:
        return sorted(self._items)

    def describe(self) -> list[tuple[str, str]]:
        """(name, one-line summary) for `lmtune ls`."""
        return [(n, summary_of(self._items[n])) for n in self.names()]


def summary_of(item) -> str:
    """An item's `lmtune ls` line: its `summary` (registered options), else its docstring's first line."""
    if isinstance(getattr(item, "summary", None), str):
        return item.summary
    doc = (item.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
