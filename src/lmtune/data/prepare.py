"""DataConfig -> DataBundle: read, validate, split, apply the label budget."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .builtin import load_builtin
from .examples import Reject, TextExample
from .readers import fingerprint
from .split import by_label, stratified_split


@dataclass
class DataBundle:
    train: list  # TextExample, TokenExample or PromptExample, as the task reads them
    dev: list
    test: list
    labels: list[str]
    unlabeled: list[TextExample] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def held_out_split(self) -> str | None:
        """The split reported as the result: test, else dev, else none."""
        return "test" if self.test else "dev" if self.dev else None

    def summary(self) -> dict:
        return {
            "labels": self.labels,
            "train": len(self.train), "dev": len(self.dev), "test": len(self.test),
            "unlabeled": len(self.unlabeled), "rejected": len(self.rejects),
            "train_per_class": label_counts(self.train),
            "warnings": len(self.warnings),
            "fingerprints": self.fingerprints,
        }


def label_counts(examples: list) -> dict[str, int]:
    """Examples per label (a multi-label example counts once for each of its labels)."""
    counts: dict[str, int] = {}
    for label, items in by_label([ex for ex in examples if ex.label is not None]).items():
        for name in (label if isinstance(label, tuple) else (label,)):
            counts[name] = counts.get(name, 0) + len(items)
    return dict(sorted(counts.items()))


def prepare_data(cfg: DataConfig, seed: int, task: str, task_options: dict | None = None) -> DataBundle:
    """Read, validate, split and budget the data the way `task` (its name: classification,
    token-classification, generation) reads it, with its `task_options`."""
    from ..options import TASK_OPTIONS, options_of
    from .formats import get_format

    options = options_of(TASK_OPTIONS, task).schema.model_validate(task_options or {})
    fmt = get_format(task)
    rejects: list[Reject] = []
    warnings: list[str] = []
    fingerprints: dict[str, str] = {}

    def read(path: str) -> list:
        outcome = fmt.read(path, cfg, options)
        rejects.extend(outcome.rejects)
        warnings.extend(outcome.warnings)
        fingerprints[path] = fingerprint([Path(path)])
        return outcome.examples

    if cfg.builtin:
        if not fmt.stratified:
            raise ConfigError(f"data.builtin datasets are text classification data, not {task} data",
                              fix="give your files with data.train (and data.dev / data.test).")
        dataset = load_builtin(cfg.builtin)
        pool = dataset.examples
        fingerprints[f"builtin:{dataset.name}"] = fingerprint(dataset.files)
    else:
        pool = read(cfg.train)
    where = cfg.train or f"builtin:{cfg.builtin}"
    if not pool:
        raise DataError("no usable training examples", where=where,
                        fix="check the file's format and columns (rejected rows are listed in the run's rejects file).")

    split_seed = seed if cfg.split_seed is None else cfg.split_seed
    test = read(cfg.test) if cfg.test else None
    if test is None:
        pool, test = stratified_split(pool, cfg.test_size, split_seed, "test")
    dev = read(cfg.dev) if cfg.dev else None
    if dev is None:
        pool, dev = stratified_split(pool, cfg.dev_size, split_seed + 1, "dev")

    labels = fmt.label_set(pool)
    warnings += fmt.check_splits(pool, {"dev": dev, "test": test}, labels, where) or []

    unlabeled: list = []
    if cfg.labels_per_class:
        pool, unlabeled = fmt.sample_per_label(pool, cfg.labels_per_class, seed)
    elif cfg.labeled_size:
        pool, unlabeled = fmt.take_labeled(pool, cfg.labeled_size, seed)
        # tagged examples have no class per example: nothing to warn about
        present = set(fmt.label_set(pool)) if fmt.stratified or fmt.label_sets else labels
        if absent := [lb for lb in labels if lb not in present]:
            warnings.append(f"{where}: data.labeled_size={cfg.labeled_size} left no labeled example of "
                            f"{', '.join(map(repr, absent))}; the model learns such a class only from pseudo labels "
                            "(self-training with bootstrap: descriptions). Raise data.labeled_size, or use "
                            "data.labels_per_class")
    if cfg.unlabeled:
        from .corpus import read_texts

        texts, prints = read_texts(Path(cfg.unlabeled), cfg, rejects)
        fingerprints.update(prints)
        unlabeled += [fmt.unlabeled_example(text, source) for source, text in texts]
    if cfg.max_unlabeled and len(unlabeled) > cfg.max_unlabeled:
        unlabeled = random.Random(seed).sample(unlabeled, cfg.max_unlabeled)
    return DataBundle(pool, dev, test, labels, unlabeled, rejects, fingerprints, warnings)


def natural_sorted(labels) -> list[str]:
    """'2' before '10'; plain text labels alphabetically."""
    return sorted(labels, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])
