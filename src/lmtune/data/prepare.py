"""DataConfig -> DataBundle: read, validate, split, apply the label budget."""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DataConfig
from ..errors import DataError
from .builtin import load_builtin
from .examples import Reject, TextExample
from .readers import read_examples
from .split import by_label, sample_per_class, stratified_split


@dataclass
class DataBundle:
    train: list[TextExample]
    dev: list[TextExample]
    test: list[TextExample]
    labels: list[str]
    unlabeled: list[TextExample] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def held_out_split(self) -> str | None:
        """The split reported as the result: test, else dev, else none."""
        return "test" if self.test else "dev" if self.dev else None

    def summary(self) -> dict:
        return {
            "labels": self.labels,
            "train": len(self.train), "dev": len(self.dev), "test": len(self.test),
            "unlabeled": len(self.unlabeled), "rejected": len(self.rejects),
            "train_per_class": {label: len(items) for label, items in by_label(self.train).items()},
            "fingerprints": self.fingerprints,
        }


def prepare_data(cfg: DataConfig, seed: int) -> DataBundle:
    rejects: list[Reject] = []
    fingerprints: dict[str, str] = {}

    def read(path: str) -> list[TextExample]:
        result = read_examples(path, text_column=cfg.text_column, label_column=cfg.label_column,
                               fmt=cfg.format, on_bad_rows=cfg.on_bad_rows)
        rejects.extend(result.rejects)
        fingerprints[path] = fingerprint([Path(path)])
        return result.examples

    if cfg.builtin:
        dataset = load_builtin(cfg.builtin)
        pool = dataset.examples
        fingerprints[f"builtin:{dataset.name}"] = fingerprint(dataset.files)
    else:
        pool = read(cfg.train)

    split_seed = seed if cfg.split_seed is None else cfg.split_seed
    test = read(cfg.test) if cfg.test else None
    if test is None:
        pool, test = stratified_split(pool, cfg.test_size, split_seed, "test")
    dev = read(cfg.dev) if cfg.dev else None
    if dev is None:
        pool, dev = stratified_split(pool, cfg.dev_size, split_seed + 1, "dev")

    labels = natural_sorted({ex.label for ex in pool})
    _require_two_classes(pool, cfg.train or f"builtin:{cfg.builtin}")
    for name, examples in (("dev", dev), ("test", test)):
        _check_known_labels(examples, labels, name)

    unlabeled: list[TextExample] = []
    if cfg.labels_per_class:
        pool, unlabeled = sample_per_class(pool, cfg.labels_per_class, seed)
    if cfg.unlabeled:
        from .corpus import read_texts

        texts, prints = read_texts(Path(cfg.unlabeled), cfg, rejects)
        fingerprints.update(prints)
        unlabeled += [TextExample(text, None, source) for source, text in texts]
    if cfg.max_unlabeled and len(unlabeled) > cfg.max_unlabeled:
        unlabeled = random.Random(seed).sample(unlabeled, cfg.max_unlabeled)
    return DataBundle(pool, dev, test, labels, unlabeled, rejects, fingerprints)


def fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def natural_sorted(labels) -> list[str]:
    """'2' before '10'; plain text labels alphabetically."""
    return sorted(labels, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


def _require_two_classes(examples: list[TextExample], where: str) -> None:
    found = {ex.label for ex in examples}
    if len(found) < 2:
        raise DataError(f"only one class ({', '.join(map(repr, found))}) in the training data", where=where,
                        fix="a classifier needs at least two labels; check data.label_column.")


def _check_known_labels(examples: list[TextExample], labels: list[str], split: str) -> None:
    known = set(labels)
    for ex in examples:
        if ex.label not in known:
            raise DataError(f"label {ex.label!r} in the {split} data never appears in train "
                            f"(train labels: {', '.join(labels)})", where=ex.source,
                            fix=f"fix the label, drop the row, or add {ex.label!r} examples to train.")
