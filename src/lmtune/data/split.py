"""Deterministic stratified splits and per-class label budgets."""
from __future__ import annotations

import random
from collections import defaultdict

from ..errors import DataError
from .examples import TextExample


def by_label(examples: list[TextExample]) -> dict[str, list[TextExample]]:
    groups: dict[str, list[TextExample]] = defaultdict(list)
    for ex in examples:
        groups[ex.label].append(ex)
    return dict(sorted(groups.items()))


def stratified_split(examples: list[TextExample], size: float, seed: int, what: str = "held-out"
                     ) -> tuple[list[TextExample], list[TextExample]]:
    """Split off `size` (a fraction < 1, or a row count) with every class in proportion.
    Returns (rest, held_out); the same seed and data give the same split."""
    if size <= 0:
        return list(examples), []
    n_held = round(size * len(examples)) if size < 1 else int(size)
    if n_held >= len(examples):
        raise DataError(f"the {what} split asks for {n_held} rows but only {len(examples)} are available",
                        fix=f"lower data.{what}_size or provide a {what} file.")
    groups = by_label(examples)
    rng = random.Random(seed)
    # largest-remainder allocation so the per-class counts add up to n_held exactly
    shares = {label: n_held * len(items) / len(examples) for label, items in groups.items()}
    counts = {label: int(share) for label, share in shares.items()}
    for label in sorted(shares, key=lambda lb: shares[lb] - counts[lb], reverse=True)[: n_held - sum(counts.values())]:
        counts[label] += 1
    rest, held = [], []
    for label, items in groups.items():
        items = list(items)
        rng.shuffle(items)
        k = min(counts[label], len(items) - 1)  # always leave one example of each class behind
        held += items[:k]
        rest += items[k:]
    rng.shuffle(rest)
    rng.shuffle(held)
    return rest, held


def sample_per_class(examples: list[TextExample], k: int, seed: int
                     ) -> tuple[list[TextExample], list[TextExample]]:
    """K labeled examples per class; the rest becomes unlabeled text (label removed)."""
    groups = by_label(examples)
    short = {label: len(items) for label, items in groups.items() if len(items) < k}
    if short:
        listing = ", ".join(f"{label!r} has {n}" for label, n in short.items())
        raise DataError(f"labels_per_class={k} but {listing} in the training pool",
                        fix=f"lower data.labels_per_class to at most {min(short.values())} or add labeled rows.")
    rng = random.Random(seed)
    labeled, unlabeled = [], []
    for label, items in groups.items():
        items = list(items)
        rng.shuffle(items)
        labeled += items[:k]
        unlabeled += [TextExample(ex.text, None, ex.source) for ex in items[k:]]
    rng.shuffle(labeled)
    rng.shuffle(unlabeled)
    return labeled, unlabeled
