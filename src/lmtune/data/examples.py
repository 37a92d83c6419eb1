"""Plain records that flow from readers to tasks."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextExample:
    text: str
    label: str | None = None
    source: str = ""  # "file:line" it came from, for located errors further down


@dataclass(frozen=True)
class Reject:
    """A row that was not used, and why. Written to a rejects file; never dropped silently."""
    file: str
    line: int
    reason: str
    raw: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"
