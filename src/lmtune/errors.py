"""Typed, user-facing failures. The CLI prints each as one line plus its fix (exit code 2)."""
from __future__ import annotations


class LmtuneError(Exception):
    """A failure the user can fix: what went wrong, where, and how to fix it."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.fix = fix

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} Fix: {self.fix}" if self.fix else text


class ConfigError(LmtuneError):
    """The configuration is invalid (unknown key, wrong type, impossible combination)."""


class DataError(LmtuneError):
    """A data file is missing, unreadable or holds rows that cannot be used."""


class ModelError(LmtuneError):
    """A backbone or run directory cannot be found or loaded."""


def closest(name: str, known: list[str] | tuple[str, ...]) -> str | None:
    """The known name most like `name`, for 'did you mean' hints."""
    import difflib

    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return matches[0] if matches else None
