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


@dataclass(frozen=True)
class TokenExample:
    """One sentence for token classification: its words and, when labeled, one tag per word."""
    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None = None
    source: str = ""
    label = None  # not a field: splits and budgets group by `.label`; sentences are one group

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass(frozen=True)
class PromptExample:
    """One instruction-tuning example: the conversation before the answer, and the answer.
    A `prompt`/`response` row is the single message ("user", prompt)."""
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    response: str | None = None
    source: str = ""
    label = None

    @property
    def text(self) -> str:
        return "\n".join(content for _, content in self.messages)
