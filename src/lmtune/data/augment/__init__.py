"""Augmenters: text -> a changed copy with the same label, registered by name (`lmtune ls`).

Used to build training data (`lmtune data augment`) and to test robustness
(`lmtune eval --perturb NAME`). Each is seeded per text, so a copy is reproducible.
"""
from __future__ import annotations

import random
from typing import ClassVar

from pydantic import Field

from ...config import StrictModel
from ...registry import Registry


class Augmenter:
    """Base class: `augment(text, rng)` returns the changed text."""

    class Config(StrictModel):
        rate: float = Field(0.1, gt=0, le=1, description="fraction of the words changed")

    needs_resources: ClassVar[str | None] = None  # what to install when a resource is missing

    def __init__(self, config: "Augmenter.Config | None" = None):
        self.config = config or self.Config()

    def augment(self, text: str, rng: random.Random) -> str:
        raise NotImplementedError

    def augment_batch(self, texts: list[str], seed: int) -> list[str]:
        """One changed copy of each text; text i uses its own generator (seed, i). Model-based
        augmenters override this to batch."""
        return [self.augment(text, random.Random(f"{seed}:{i}")) for i, text in enumerate(texts)]

    def changes(self, n_words: int) -> int:
        """How many of n words to change: rate x n, at least one."""
        return max(1, round(self.config.rate * n_words))


AUGMENTERS: Registry[Augmenter] = Registry("augmenter")
register_augmenter = AUGMENTERS.register


def build_augmenter(name: str, **options) -> Augmenter:
    from pydantic import ValidationError

    from ...errors import ConfigError

    cls = AUGMENTERS.get(name)
    try:
        return cls(cls.Config.model_validate(options))
    except ValidationError as exc:
        err = exc.errors()[0]
        option = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"augmenter {name!r}, option {option!r}: {err['msg']}",
                          fix=f"its options: {', '.join(cls.Config.model_fields)}.") from None


def augment_texts(texts: list[str], augmenter: Augmenter, seed: int) -> list[str]:
    """One changed copy of each text, reproducible from `seed`."""
    return augmenter.augment_batch(list(texts), seed)


def augment_file(path, out, method: str, *, n: int = 2, seed: int = 42, text_column: str = "text",
                 label_column: str = "label", options: dict | None = None, progress: bool = True) -> dict:
    """`lmtune data augment`: every row, then `n` augmented copies of it (label and other columns
    carried over; `augmented_from` names the source row, `augmenter` the method). Copies that
    come out unchanged are not written, and counted."""
    from pathlib import Path

    from tqdm.auto import tqdm

    from ... import artifacts as art
    from ..readers import read_examples
    from ..tables import write_rows

    augmenter = build_augmenter(method, **(options or {}))
    examples = read_examples(path, text_column=text_column, label_column=label_column, require_label=False,
                             keep_row=True).examples
    texts = [ex.text for ex in examples]
    rows = [{**ex.row, "augmented_from": "", "augmenter": ""} for ex in examples]
    unchanged = 0
    for copy in tqdm(range(n), desc=f"augment ({method})", disable=not progress):
        for ex, new in zip(examples, augment_texts(texts, augmenter, seed * 1000 + copy)):
            if new == ex.text or not new.strip():
                unchanged += 1
                continue
            rows.append({**ex.row, text_column: new, "augmented_from": ex.source, "augmenter": method})
    write_rows(out, rows)
    report = {"input": str(path), "output": str(out), "method": method, "options": augmenter.config.model_dump(),
              "rows_in": len(examples), "copies_per_row": n, "augmented_rows": len(rows) - len(examples),
              "unchanged_copies_skipped": unchanged, "seed": seed}
    art.write_json(Path(str(out) + ".report.json"), report)
    return report


from . import backtranslation, cutout, eda, synonym, typo  # noqa: E402,F401  (register themselves)

__all__ = ["AUGMENTERS", "Augmenter", "augment_file", "augment_texts", "build_augmenter", "register_augmenter"]
