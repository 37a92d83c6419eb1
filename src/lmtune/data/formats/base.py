"""The base data format: what a task's files hold and how its examples split."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class ReadOutcome:
    """What a reader found in one file: usable examples, rejected rows, warnings."""
    examples: list
    rejects: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] | None = None  # "file:line" per example, where the reader keeps it


class DataFormat:
    """Base class; subclasses register with @register_format(task name). `options` below are
    the task's validated `task_options` (lmtune.options.tasks)."""

    stratified: ClassVar[bool] = False  # splits keep the class proportions (one label per example)
    label_sets: ClassVar[bool] = False  # each example holds a set of labels (multi-label)

    @classmethod
    def read(cls, path: str, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        """Examples of one file (data_cfg: the run's DataConfig)."""
        raise NotImplementedError

    @classmethod
    def label_set(cls, examples: list) -> list[str]:
        """The labels the model predicts, from the training pool."""
        return []

    @classmethod
    def check_splits(cls, pool: list, held_out: dict[str, list], labels: list[str], where: str) -> list[str] | None:
        """Stop with a located error when the data cannot train this task; returns warnings."""

    @classmethod
    def unlabeled_example(cls, text: str, source: str):
        """A line of raw text (data.unlabeled) as an unlabeled example of this task."""
        raise NotImplementedError

    @staticmethod
    def strip_label(example):
        """The example without its label: labeled pool rows left over by a label budget."""
        return example

    @classmethod
    def sample_per_label(cls, pool: list, k: int, seed: int) -> tuple[list, list]:
        """data.labels_per_class: k labeled examples per label; the rest, unlabeled."""
        from ...errors import ConfigError

        raise ConfigError("data.labels_per_class needs labels per example (classification, multi-label)",
                          fix="use data.labeled_size: the number of labeled training examples to keep.")

    @classmethod
    def take_labeled(cls, pool: list, n: int, seed: int) -> tuple[list, list]:
        """`n` labeled examples drawn at random (seeded); the rest, unlabeled."""
        if n >= len(pool):
            return list(pool), []
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        keep = set(order[:n])
        return ([ex for i, ex in enumerate(pool) if i in keep],
                [cls.strip_label(ex) for i, ex in enumerate(pool) if i not in keep])

    @classmethod
    def read_inputs(cls, path: str, on_bad_rows: str, data_cfg: dict, options) -> ReadOutcome:
        """Inputs to predict from a file (`data_cfg`: the run's data section, for column names)."""
        raise NotImplementedError
