"""Multi-label data: one text and a set of labels per row.

JSONL gives the labels as a list (`"label": ["sport", "politics"]`); CSV/TSV/Parquet as one
string split by `task_options.label_separator` (`sport|politics`). An example's label is the
sorted tuple of its labels, so splits stratify by label set (each combination keeps its share,
and at least one example of it stays in train); `labels_per_class` is counted per label.
"""
from __future__ import annotations

import random

from ...errors import DataError
from . import register_format
from .base import ReadOutcome
from .texts import LabeledTexts, same_but_case


def label_parser(options, required: bool = True):
    """value -> sorted tuple of labels (ValueError: a bad row, with why)."""
    known = set(options.labels) if options.labels else None

    def parse(value):
        if value is None or (isinstance(value, float) and value != value):
            if required:
                raise ValueError("no labels (give a list, or labels joined by "
                                 f"{options.label_separator!r})")
            return None
        if isinstance(value, str):
            items = [part.strip() for part in value.split(options.label_separator)]
            items = [item for item in items if item]
        elif isinstance(value, list):
            if not all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in value):
                raise ValueError(f"labels {value!r}: every label in the list must be a string")
            items = [str(item).strip() for item in value]
            if any(not item for item in items):
                raise ValueError(f"labels {value!r} hold an empty label")
        else:
            raise ValueError(f"labels {value!r} are a {type(value).__name__}; give a list or a "
                             f"{options.label_separator!r}-separated string")
        if not items and not options.allow_empty:
            raise ValueError("an empty label set; set task_options.allow_empty: true if rows may have no label")
        if known is not None and (unknown := sorted(set(items) - known)):
            raise ValueError(f"label {unknown[0]!r} is not in task_options.labels ({', '.join(sorted(known))})")
        return tuple(sorted(set(items)))

    return parse


@register_format("multi-label")
class LabelSets(LabeledTexts):
    """Texts with label sets; unlabeled examples and inputs to predict as single-label texts'."""

    stratified = False  # the classification-only paths (class weights, built-in datasets) stay closed
    label_sets = True

    @classmethod
    def read(cls, path, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        from ..readers import read_examples

        result = read_examples(path, text_column=data_cfg.text_column, label_column=data_cfg.label_column,
                               fmt=data_cfg.format, on_bad_rows=data_cfg.on_bad_rows, require_label=False,
                               parse_label=label_parser(options, require_labels))
        return ReadOutcome(result.examples, result.rejects)

    @classmethod
    def label_set(cls, examples) -> list[str]:
        from ..prepare import natural_sorted

        return natural_sorted({label for ex in examples if ex.label for label in ex.label})

    @classmethod
    def check_splits(cls, pool, held_out, labels, where) -> list[str]:
        if len(labels) < 2:
            raise DataError(f"only {len(labels)} label(s) in the training data", where=where,
                            fix="a multi-label model needs at least two labels; check data.label_column and "
                                "task_options.label_separator.")
        known = set(labels)
        for split, examples in held_out.items():
            for ex in examples:
                if unknown := sorted(set(ex.label or ()) - known):
                    raise DataError(f"label {unknown[0]!r} in the {split} data never appears in train "
                                    f"(train labels: {', '.join(labels)})", where=ex.source,
                                    fix=f"fix the label, drop the row, or add {unknown[0]!r} examples to train.")
        return same_but_case(labels, where)

    @classmethod
    def sample_per_label(cls, pool, k, seed):
        """At least k examples of every label (greedy, rarest label first: an example counts for
        every label it holds, so common labels often get more than k); the rest, unlabeled."""
        labels = cls.label_set(pool)
        counts = {lb: sum(lb in (ex.label or ()) for ex in pool) for lb in labels}
        if short := {lb: n for lb, n in counts.items() if n < k}:
            listing = ", ".join(f"{lb!r} has {n}" for lb, n in short.items())
            raise DataError(f"labels_per_class={k} but {listing} in the training pool",
                            fix=f"lower data.labels_per_class to at most {min(short.values())} or add labeled rows.")
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        chosen, have = set(), dict.fromkeys(labels, 0)
        for label in sorted(labels, key=lambda lb: counts[lb]):
            for i in order:
                if have[label] >= k:
                    break
                if i not in chosen and label in (pool[i].label or ()):
                    chosen.add(i)
                    for held in pool[i].label:
                        have[held] += 1
        labeled = [pool[i] for i in order if i in chosen]
        return labeled, [cls.strip_label(pool[i]) for i in order if i not in chosen]

