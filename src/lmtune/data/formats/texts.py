"""Classification data: one text and one label per row."""
from __future__ import annotations

from dataclasses import replace

from ...errors import DataError
from ..examples import TextExample
from . import register_format
from .base import DataFormat, ReadOutcome


@register_format("classification")
class LabeledTexts(DataFormat):
    stratified = True

    @classmethod
    def read(cls, path, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        from ..readers import read_examples

        result = read_examples(path, text_column=data_cfg.text_column, label_column=data_cfg.label_column,
                               fmt=data_cfg.format, on_bad_rows=data_cfg.on_bad_rows, require_label=require_labels)
        return ReadOutcome(result.examples, result.rejects)

    @classmethod
    def label_set(cls, examples) -> list[str]:
        from ..prepare import natural_sorted

        return natural_sorted({ex.label for ex in examples})

    @classmethod
    def check_splits(cls, pool, held_out, labels, where) -> list[str]:
        found = {ex.label for ex in pool}
        if len(found) < 2:
            raise DataError(f"only one class ({', '.join(map(repr, found))}) in the training data", where=where,
                            fix="a classifier needs at least two labels; check data.label_column.")
        known = set(labels)
        for split, examples in held_out.items():
            for ex in examples:
                if ex.label not in known:
                    raise DataError(f"label {ex.label!r} in the {split} data never appears in train "
                                    f"(train labels: {', '.join(labels)})", where=ex.source,
                                    fix=f"fix the label, drop the row, or add {ex.label!r} examples to train.")
        return same_but_case(labels, where)

    @classmethod
    def sample_per_label(cls, pool, k, seed):
        from ..split import sample_per_class

        return sample_per_class(pool, k, seed)

    @classmethod
    def unlabeled_example(cls, text, source):
        return TextExample(text, None, source)

    @staticmethod
    def strip_label(example):
        return replace(example, label=None)

    @classmethod
    def read_inputs(cls, path, on_bad_rows, data_cfg, options) -> ReadOutcome:
        from ..readers import read_examples

        result = read_examples(path, text_column=data_cfg.get("text_column", "text"), label_column=None,
                               require_label=False, on_bad_rows=on_bad_rows)
        return ReadOutcome([ex.text for ex in result.examples], result.rejects,
                           sources=[ex.source for ex in result.examples])


def same_but_case(labels: list[str], where: str) -> list[str]:
    """Warnings for labels that differ only in case or surrounding space ('Sports', 'sports '):
    they train as separate classes, which is seldom what a file meant."""
    groups: dict[str, list[str]] = {}
    for label in labels:
        groups.setdefault(label.strip().casefold(), []).append(label)
    return [f"{where}: labels {', '.join(map(repr, group))} differ only in case or spaces and are trained as "
            f"{len(group)} classes; write them one way if they are one class"
            for group in groups.values() if len(group) > 1]
