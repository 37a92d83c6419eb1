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

    def changes(self, n_words: int) -> int:
        """How many of n words to change: rate x n, at least one."""
        return max(1, round(self.config.rate * n_words))


AUGMENTERS: Registry[Augmenter] = Registry("augmenter")
register_augmenter = AUGMENTERS.register


def build_augmenter(name: str, **options) -> Augmenter:
    cls = AUGMENTERS.get(name)
    return cls(cls.Config.model_validate(options))


def augment_texts(texts: list[str], augmenter: Augmenter, seed: int) -> list[str]:
    """One changed copy of each text; text i uses its own generator (seed, i)."""
    return [augmenter.augment(text, random.Random(f"{seed}:{i}")) for i, text in enumerate(texts)]


from . import eda, synonym, typo  # noqa: E402,F401  (register themselves)

__all__ = ["AUGMENTERS", "Augmenter", "augment_texts", "build_augmenter", "register_augmenter"]
