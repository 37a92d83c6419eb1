"""Synonym replacement from WordNet (read offline; see wordnet.py)."""
from __future__ import annotations

from . import Augmenter, register_augmenter


@register_augmenter("synonym")
class Synonym(Augmenter):
    """Replace a random `rate` of the words that have WordNet synonyms with one of them."""

    needs_resources = "wordnet"

    def augment(self, text, rng):
        from .wordnet import match_case, synonyms

        words = text.split()
        candidates = [i for i, w in enumerate(words) if synonyms(w)]
        for i in rng.sample(candidates, min(self.changes(len(words)), len(candidates))):
            core = words[i].strip(PUNCTUATION)
            replacement = match_case(rng.choice(synonyms(core)), core)
            words[i] = words[i].replace(core, replacement, 1)
        return " ".join(words)


PUNCTUATION = ".,;:!?\"'()[]"
