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


def group_split(examples: list[TextExample], sizes: dict[str, float], seed: int, groups: list[str]
                ) -> dict[str, list[TextExample]]:
    """Whole groups to each split (rows of one group never straddle two), sizes as fractions of
    the rows; groups are assigned largest first to the split furthest below its target, which
    keeps both sizes and class shares close when groups are small."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    rng = random.Random(seed)
    order = list(members)
    rng.shuffle(order)
    order.sort(key=lambda g: -len(members[g]))  # stable: ties stay shuffled
    targets = {name: size * len(examples) if size < 1 else size for name, size in sizes.items() if size > 0}
    targets["train"] = len(examples) - sum(targets.values())
    filled = {name: 0 for name in targets}
    assigned: dict[str, list[TextExample]] = {name: [] for name in targets}
    for group in order:
        name = max(targets, key=lambda n: (targets[n] - filled[n]) / max(targets[n], 1e-9))
        assigned[name] += [examples[i] for i in members[group]]
        filled[name] += len(members[group])
    for items in assigned.values():
        rng.shuffle(items)
    return assigned


def split_examples(examples: list[TextExample], dev: float, test: float, seed: int, groups: list[str] | None = None
                   ) -> dict[str, list[TextExample]]:
    """train/dev/test: stratified by label, or by whole groups when `groups` is given."""
    if groups is not None:
        return group_split(examples, {"dev": dev, "test": test}, seed, groups)
    n = len(examples)
    rest, test_rows = stratified_split(examples, round(test * n) if test < 1 else test, seed, "test")
    train, dev_rows = stratified_split(rest, round(dev * n) if dev < 1 else dev, seed + 1, "dev")
    return {"train": train, "dev": dev_rows, "test": test_rows}


def split_file(path, out_dir, *, dev: float = 0.1, test: float = 0.1, seed: int = 42, group_column: str | None = None,
               text_column: str = "text", label_column: str = "label") -> dict:
    """`lmtune data split`: OUT_DIR/{train,dev,test}<ext> with every column kept; returns the
    report (rows and class shares per split), also saved as OUT_DIR/split.json."""
    from pathlib import Path

    from .. import artifacts as art
    from .readers import read_examples
    from .tables import write_rows

    path, out_dir = Path(path), Path(out_dir)
    examples = read_examples(path, text_column=text_column, label_column=label_column, keep_row=True).examples
    groups = None
    if group_column:
        missing = [ex.source for ex in examples if ex.row.get(group_column) in (None, "")]
        if missing:
            raise DataError(f"{len(missing)} rows have no value in the group column {group_column!r}",
                            where=missing[0], fix="fill the group column for every row, or drop --group-column.")
        groups = [str(ex.row[group_column]) for ex in examples]
    splits = split_examples(examples, dev, test, seed, groups)
    columns = list(dict.fromkeys(key for ex in examples for key in ex.row))  # the same columns in every split
    report = {"input": str(path), "seed": seed, "group_column": group_column, "splits": {}}
    for name, items in splits.items():
        if not items:
            continue
        out = write_rows(out_dir / f"{name}{path.suffix}", [ex.row for ex in items], columns=columns)
        counts = {label: len(rows) for label, rows in by_label(items).items()}
        report["splits"][name] = {"file": str(out), "rows": len(items),
                                  "classes": {lb: round(n / len(items), 4) for lb, n in counts.items()}}
    art.write_json(out_dir / "split.json", report)
    return report
