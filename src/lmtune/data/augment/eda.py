"""EDA word operations (Wei & Zou 2019): random deletion, swap and insertion."""
from __future__ import annotations

from . import Augmenter, register_augmenter


@register_augmenter("deletion")
class Deletion(Augmenter):
    """Delete a random `rate` of the words (never all of them)."""

    def augment(self, text, rng):
        words = text.split()
        if len(words) < 2:
            return text
        drop = set(rng.sample(range(len(words)), min(self.changes(len(words)), len(words) - 1)))
        return " ".join(w for i, w in enumerate(words) if i not in drop)


@register_augmenter("swap")
class Swap(Augmenter):
    """Swap `rate` x words random pairs of words."""

    def augment(self, text, rng):
        words = text.split()
        if len(words) < 2:
            return text
        for _ in range(self.changes(len(words))):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
        return " ".join(words)


@register_augmenter("insertion")
class Insertion(Augmenter):
    """Insert a synonym of a random word at a random place, `rate` x words times (WordNet)."""

    needs_resources = "wordnet"

    def augment(self, text, rng):
        from .wordnet import synonyms

        words = text.split()
        candidates = [w for w in words if synonyms(w)]
        for _ in range(self.changes(len(words)) if candidates else 0):
            words.insert(rng.randrange(len(words) + 1), rng.choice(synonyms(rng.choice(candidates))))
        return " ".join(words)
