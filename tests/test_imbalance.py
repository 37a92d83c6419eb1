"""training.class_weights and training.sampler: balanced (training/balance.py)."""
from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import lmtune
from conftest import sentiment_rows, write_csv
from lmtune import artifacts as art
from lmtune.data.examples import TextExample
from lmtune.errors import ConfigError
from lmtune.methods.supervised import Supervised
from lmtune.recipes.validation import validate_config
from lmtune.training.balance import balanced_sample_weights, class_weight_vector, trained_shares

LABELS = ["a", "b", "c"]


def examples(counts):
    return [TextExample(f"t{i}", label) for label, n in zip(LABELS, counts) for i in range(n)]


def test_auto_weights_are_balanced_and_given_ones_name_every_label():
    np.testing.assert_allclose(class_weight_vector("auto", LABELS, examples([10, 5, 1])), [16 / 30, 16 / 15, 16 / 3])
    assert class_weight_vector("none", LABELS, examples([1, 1, 1])) is None
    np.testing.assert_allclose(class_weight_vector({"a": 1, "b": 2, "c": 3}, LABELS, examples([1, 1, 1])), [1, 2, 3])
    with pytest.raises(ConfigError, match="gives no weight for c"):
        class_weight_vector({"a": 1, "b": 2}, LABELS, examples([1, 1, 1]))
    with pytest.raises(ConfigError, match="does not have: z"):
        class_weight_vector({"a": 1, "b": 2, "c": 1, "z": 1}, LABELS, examples([1, 1, 1]))


def test_weighted_loss_is_the_hand_computed_one():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 0, 0, 1, 2, 2])
    weights = torch.tensor([0.5, 2.0, 1.5])
    method = Supervised(Supervised.Config(), task=None)
    method.class_weights = weights
    outputs = SimpleNamespace(logits=logits, loss=torch.nn.functional.cross_entropy(logits, labels))
    per_row = -torch.log_softmax(logits, -1)[torch.arange(6), labels]
    expected = (weights[labels] * per_row).sum() / weights[labels].sum()
    assert float(method.supervised_loss(outputs, {"labels": labels})) == pytest.approx(float(expected), rel=1e-5)
    method.class_weights = None
    assert method.supervised_loss(outputs, {"labels": labels}) is outputs.loss


def test_the_balanced_sampler_draws_classes_equally_and_the_shares_it_trains_with():
    data = examples([100, 10, 10])
    weights = balanced_sample_weights(LABELS, data)
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=3000, replacement=True,
                                                     generator=torch.Generator().manual_seed(0))
    drawn = Counter(data[i].label for i in sampler)
    assert all(900 < drawn[lb] < 1100 for lb in LABELS)
    np.testing.assert_allclose(trained_shares(LABELS, data, None, "balanced"), [1 / 3] * 3)
    np.testing.assert_allclose(trained_shares(LABELS, data, class_weight_vector("auto", LABELS, data), "random"),
                               [1 / 3] * 3)
    assert trained_shares(LABELS, data, None, "random") is None


def imbalanced_config(toy_config, tmp_path, **training):
    rows = sentiment_rows(40, seed=1)
    rows = [r for r in rows if r["label"] == "pos"] + [r for r in rows if r["label"] == "neg"][:4]  # 10:1
    toy_config["data"]["train"] = str(write_csv(tmp_path / "imbalanced.csv", rows))
    toy_config["method"] = {"name": "supervised"}
    toy_config["training"].update(epochs=2, **training)
    return toy_config


def test_a_run_trains_with_class_weights_and_the_balanced_sampler(toy_config, tmp_path):
    cfg = imbalanced_config(toy_config, tmp_path, class_weights="auto", sampler="balanced")
    messages = []
    result = lmtune.train(validate_config(cfg), progress=False, log=messages.append)
    balance = art.read_json(result.run_dir / art.RUN_FILE)["balance"]
    assert balance["sampler"] == "balanced"
    assert balance["class_weights"]["neg"] == pytest.approx(44 / 8) and balance["class_weights"]["pos"] == pytest.approx(44 / 80)
    assert any("class weights in the labeled loss" in m for m in messages)
    assert set(result.metrics["test"]["per_class"]) == {"neg", "pos"}  # recall per class in the report


def test_class_weights_are_for_classification_and_positive(toy_config, tmp_path):
    bad = imbalanced_config(toy_config, tmp_path, class_weights={"pos": 1, "neg": -1})
    with pytest.raises(ConfigError, match="class_weights must be positive"):
        validate_config(bad)


def test_class_weights_on_another_task_fail_at_validation(toy_config):
    toy_config["task"] = "multi-label"
    toy_config["training"]["sampler"] = "balanced"
    with pytest.raises(ConfigError, match="weigh single-label classes; task 'multi-label'"):
        validate_config(toy_config)
