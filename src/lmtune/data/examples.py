"""Plain records that flow from readers to tasks."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextExample:
    text: str
    label: str | None = None
    source: str = ""  # "file:line" it came from, for located errors further down
    # every column of the row, for the data tools that write rows back out (read with keep_row=True)
    row: dict | None = field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Reject:
    """A row that was not used, and why. Written to a rejects file; never dropped silently."""
    file: str
    line: int
    reason: str
    raw: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"
