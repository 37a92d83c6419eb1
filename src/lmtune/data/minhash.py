"""Near-duplicate text pairs: MinHash signatures over word 3-shingles, LSH banding to find
candidate pairs, then the exact Jaccard similarity of the shingle sets to confirm them.

128 permutations in 32 bands of 4 rows: a pair with Jaccard 0.8 becomes a candidate with
probability 1 - (1 - 0.8^4)^32 > 0.9999; one with 0.3 with probability 0.23, then rejected
by the exact check. Cost: linear in the texts plus the candidate pairs.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections import defaultdict

import numpy as np

NUM_PERM, BANDS = 128, 32
_PRIME = (1 << 61) - 1


def normalise(text: str) -> str:
    """For comparison only: NFKC, lower case, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def shingles(text: str, size: int = 3) -> set[int]:
    words = normalise(text).split()
    grams = [" ".join(words[i:i + size]) for i in range(max(1, len(words) - size + 1))]
    return {zlib.crc32(g.encode("utf-8")) for g in grams if g}


def signatures(sets: list[set[int]], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, NUM_PERM, dtype=np.uint64)
    b = rng.integers(0, _PRIME, NUM_PERM, dtype=np.uint64)
    out = np.full((len(sets), NUM_PERM), np.iinfo(np.uint64).max, dtype=np.uint64)
    for i, s in enumerate(sets):
        if s:
            x = np.fromiter(s, dtype=np.uint64)[:, None]
            out[i] = ((x * a + b) % _PRIME).min(axis=0)  # uint64 arithmetic wraps: a fixed random hash family
    return out


def near_duplicate_pairs(texts: list[str], threshold: float = 0.8) -> list[tuple[int, int, float]]:
    """(i, j, jaccard) for i < j whose word 3-shingle sets have Jaccard >= threshold."""
    sets = [shingles(t) for t in texts]
    sig = signatures(sets)
    rows = NUM_PERM // BANDS
    candidates: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i, key in enumerate(sig[:, band * rows:(band + 1) * rows]):
            if sets[i]:
                buckets[key.tobytes()].append(i)
        for members in buckets.values():
            candidates.update((members[x], members[y]) for x in range(len(members)) for y in range(x + 1, len(members)))
    pairs = []
    for i, j in sorted(candidates):
        jaccard = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
        if jaccard >= threshold:
            pairs.append((i, j, round(jaccard, 4)))
    return pairs
