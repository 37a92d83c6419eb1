"""Character-level typos: the noise of real user input."""
from __future__ import annotations

import string

from . import Augmenter, register_augmenter


@register_augmenter("typo")
class Typo(Augmenter):
    """One typo (swap, drop, double or replace a letter) in a random `rate` of the words of 3+ letters."""

    def augment(self, text, rng):
        words = text.split()
        candidates = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 3]
        for i in rng.sample(candidates, min(self.changes(len(words)), len(candidates))):
            words[i] = _typo(words[i], rng)
        return " ".join(words)


def _typo(word: str, rng) -> str:
    letters = [k for k, c in enumerate(word) if c.isalpha()]
    k = rng.choice(letters[:-1])
    kind = rng.choice(("swap", "drop", "double", "replace"))
    if kind == "swap" and word[k + 1].isalpha() and word[k] != word[k + 1]:
        return word[:k] + word[k + 1] + word[k] + word[k + 2:]
    if kind == "drop":
        return word[:k] + word[k + 1:]
    if kind == "double":
        return word[:k] + word[k] + word[k:]
    choices = [c for c in string.ascii_lowercase if c != word[k].lower()]
    return word[:k] + rng.choice(choices) + word[k + 1:]
