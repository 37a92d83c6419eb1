"""Span cutout: one contiguous run of words removed (the text analogue of image cutout)."""
from __future__ import annotations

from . import Augmenter, register_augmenter


@register_augmenter("cutout")
class Cutout(Augmenter):
    """Remove one random contiguous span of `rate` x words (at least one word, never all)."""

    def augment(self, text, rng):
        words = text.split()
        if len(words) < 2:
            return text
        span = min(self.changes(len(words)), len(words) - 1)
        start = rng.randrange(len(words) - span + 1)
        return " ".join(words[:start] + words[start + span:])
