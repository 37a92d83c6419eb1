"""Splits, label budget and cross-file validation."""
from __future__ import annotations

from collections import Counter

import pytest

from conftest import sentiment_rows, write_csv
from lmtune.config import DataConfig
from lmtune.data import TextExample, prepare_data
from lmtune.data.split import sample_per_class, stratified_split
from lmtune.errors import DataError


def examples(counts: dict[str, int]) -> list[TextExample]:
    return [TextExample(f"{label} {i}", label) for label, n in counts.items() for i in range(n)]


def test_stratified_split_is_proportional_exact_and_deterministic():
    data = examples({"a": 60, "b": 30, "c": 10})
    rest, held = stratified_split(data, 0.2, seed=1)
    assert len(held) == 20 and len(rest) == 80
    assert Counter(e.label for e in held) == {"a": 12, "b": 6, "c": 2}
    assert stratified_split(data, 0.2, seed=1) == (rest, held)
    assert stratified_split(data, 0.2, seed=2)[1] != held
    assert not set(e.text for e in rest) & set(e.text for e in held)
    _, held_count = stratified_split(data, 7, seed=1)
    assert len(held_count) == 7


def test_label_budget_keeps_k_per_class_and_unlabels_the_rest():
    data = examples({"a": 10, "b": 5})
    labeled, unlabeled = sample_per_class(data, 3, seed=0)
    assert Counter(e.label for e in labeled) == {"a": 3, "b": 3}
    assert len(unlabeled) == 9 and all(e.label is None for e in unlabeled)
    assert {e.text for e in labeled}.isdisjoint(e.text for e in unlabeled)


def test_budget_larger_than_a_class_is_an_error():
    with pytest.raises(DataError, match="labels_per_class=6 but 'b' has 5"):
        sample_per_class(examples({"a": 10, "b": 5}), 6, seed=0)


def test_prepare_splits_dev_and_test_from_one_file(tmp_path):
    train = write_csv(tmp_path / "t.csv", sentiment_rows(50))
    bundle = prepare_data(DataConfig(train=str(train), dev_size=0.1, test_size=20, labels_per_class=5), seed=0,
                          task="classification")
    assert len(bundle.test) == 20 and len(bundle.dev) == 8
    assert len(bundle.train) == 10 and len(bundle.unlabeled) == 100 - 20 - 8 - 10
    assert bundle.labels == ["neg", "pos"]
    assert bundle.fingerprints[str(train)].startswith("sha256:")


def test_label_unseen_in_train_is_located(tmp_path):
    train = write_csv(tmp_path / "t.csv", sentiment_rows(5))
    dev = write_csv(tmp_path / "d.csv", sentiment_rows(2) + [{"text": "meh", "label": "neutral"}])
    with pytest.raises(DataError) as err:
        prepare_data(DataConfig(train=str(train), dev=str(dev), test_size=0), seed=0, task="classification")
    assert "'neutral'" in str(err.value) and f"{dev}:6" in str(err.value)


def test_single_class_is_an_error(tmp_path):
    train = write_csv(tmp_path / "t.csv", [{"text": f"x {i}", "label": "only"} for i in range(10)])
    with pytest.raises(DataError, match="only one class"):
        prepare_data(DataConfig(train=str(train), dev_size=0, test_size=0), seed=0, task="classification")


def test_builtin_datasets_read_the_packaged_files():
    bbc = prepare_data(DataConfig(builtin="bbc_news", test_size=1000, dev_size=0, labels_per_class=4), seed=42,
                       task="classification")
    assert bbc.labels == ["business", "entertainment", "politics", "sports", "tech"]
    assert len(bbc.test) == 1000 and len(bbc.train) == 20 and len(bbc.unlabeled) == 2225 - 1000 - 20
    rt = prepare_data(DataConfig(builtin="rotten_tomatoes", test_size=0, dev_size=0), seed=0, task="classification")
    assert rt.labels == ["negative", "positive"] and len(rt.train) == 8530


def test_split_seed_fixes_the_test_set_across_training_seeds(tmp_path):
    train = write_csv(tmp_path / "t.csv", sentiment_rows(50))
    cfg = DataConfig(train=str(train), dev_size=0, test_size=20, labels_per_class=5, split_seed=0)
    a, b = prepare_data(cfg, seed=1, task="classification"), prepare_data(cfg, seed=2, task="classification")
    assert a.test == b.test and a.train != b.train


def test_labels_that_differ_only_in_case_are_warned_about(tmp_path):
    rows = [{"text": f"text {i}", "label": ["Sports", "sports", "tech"][i % 3]} for i in range(30)]
    train = write_csv(tmp_path / "t.csv", rows)
    bundle = prepare_data(DataConfig(train=str(train), dev_size=0, test_size=0), seed=0, task="classification")
    assert bundle.labels == ["Sports", "sports", "tech"]  # kept apart, as written ...
    assert any("'Sports', 'sports'" in w and "differ only in case" in w for w in bundle.warnings)  # ... and said


def test_a_builtin_dataset_for_a_task_that_cannot_read_it_is_refused():
    from lmtune.errors import ConfigError

    with pytest.raises(ConfigError, match="text classification data, not token-classification data"):
        prepare_data(DataConfig(builtin="bbc_news"), seed=0, task="token-classification")
