"""Predicting with given or pool-estimated class shares (tasks/class_prior.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lmtune
from conftest import sentiment_rows
from lmtune import artifacts as art
from lmtune.errors import ConfigError
from lmtune.recipes.validation import validate_config
from lmtune.tasks.class_prior import MIN_SHIFT, pool_shares, shift, shift_bias


def calibrated_posteriors(shares, n, seed=0):
    """Posteriors of 1-d Gaussian classes (means 0, 1.5, 3) computed under equal priors, for texts
    drawn with `shares`: what a calibrated model trained on balanced labels predicts."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(shares), n, p=shares)
    x = rng.normal(1.5 * y, 1.0)
    likelihood = np.exp(-0.5 * (x[:, None] - 1.5 * np.arange(len(shares))[None]) ** 2)
    return likelihood / likelihood.sum(1, keepdims=True), y


def test_em_recovers_the_pool_shares_and_the_shift_raises_accuracy():
    truth = np.array([0.64, 0.04, 0.32])
    probs, y = calibrated_posteriors(truth, 5000)
    balanced = np.full(3, 1 / 3)
    found, iterations = pool_shares(probs, balanced)
    assert np.abs(found - truth).max() < 0.03 and iterations > 1
    assert shift(balanced, found) > MIN_SHIFT
    adjusted = probs * found / balanced
    assert (adjusted.argmax(1) == y).mean() > (probs.argmax(1) == y).mean() + 0.03


def test_a_balanced_pool_stays_balanced():
    probs, _ = calibrated_posteriors(np.full(3, 1 / 3), 5000, seed=1)
    found, _ = pool_shares(probs, np.full(3, 1 / 3))
    assert shift(np.full(3, 1 / 3), found) < MIN_SHIFT / 2


def test_the_bias_shift_is_bayes_rule_for_the_new_prior():
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(4, 3), torch.randn(10, 4)
    labeled, pool = np.array([0.5, 0.25, 0.25]), np.array([0.1, 0.3, 0.6])
    before = torch.softmax(layer(x), -1).detach().numpy()
    shift_bias(layer, labeled, pool)
    after = torch.softmax(layer(x), -1).detach().numpy()
    expected = before * pool / labeled
    np.testing.assert_allclose(after, expected / expected.sum(1, keepdims=True), rtol=1e-5)


def write_pool(path, positive_share, n=60):
    rows = sentiment_rows(n, seed=5)
    pos = [r["text"] for r in rows if r["label"] == "pos"]
    neg = [r["text"] for r in rows if r["label"] == "neg"]
    k = round(n * positive_share)
    path.write_text("\n".join(pos[:k] + neg[:n - k]) + "\n", encoding="utf-8")
    return path


def saved_bias(run_dir):
    from lmtune.loading import load_run
    from lmtune.tasks.base import output_layer

    run = load_run(run_dir)
    return output_layer(run.model, len(run.labels)).bias.detach().numpy(), run.labels


def pool_run(toy_config, tmp_path, positive_share, prior, out):
    toy_config["data"]["unlabeled"] = str(write_pool(tmp_path / "pool.txt", positive_share))
    toy_config["method"] = {"name": "supervised"}
    toy_config["task_options"] = {"class_prior": prior}
    toy_config["training"].update(epochs=12)
    toy_config["output_dir"] = str(tmp_path / out)
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    return art.read_json(result.run_dir / art.RUN_FILE).get("class_prior"), messages, result.run_dir


@pytest.mark.parametrize("positive_share", [0.95, 0.5])
def test_a_pool_run_predicts_with_the_pool_shares_where_they_differ(toy_config, tmp_path, positive_share):
    record, messages, run_dir = pool_run(toy_config, tmp_path, positive_share, "pool", "run")
    assert record["labeled"] == {"pos": 0.5, "neg": 0.5} and record["texts"] == 60 and record["source"] == "estimated"
    assert record["applied"] is (positive_share > 0.5)
    kept, kept_messages, kept_dir = pool_run(toy_config, tmp_path, positive_share, "labeled", "kept")
    assert kept is None and not any(m.startswith("class shares") for m in kept_messages)
    (bias, labels), (trained, _) = saved_bias(run_dir), saved_bias(kept_dir)
    if record["applied"]:  # the saved model carries the shift, so predict, export and serve use it
        assert record["target"]["pos"] > 0.8 and any("the output layer now predicts with them" in m for m in messages)
        expected = trained + np.log([record["target"][name] / record["labeled"][name] for name in labels])
        np.testing.assert_allclose(bias, expected, atol=1e-3)  # the record is rounded to 4 places
    else:
        assert abs(record["target"]["pos"] - 0.5) < MIN_SHIFT and any("predicts as trained" in m for m in messages)
        np.testing.assert_allclose(bias, trained, atol=1e-6)


def test_given_shares_shift_the_saved_model_and_bad_ones_name_the_fix(toy_config, tmp_path):
    record, messages, run_dir = pool_run(toy_config, tmp_path, 0.5, {"pos": 1, "neg": 3}, "given")
    assert record["source"] == "given" and record["applied"] and record["target"] == {"pos": 0.25, "neg": 0.75}
    kept, _, kept_dir = pool_run(toy_config, tmp_path, 0.5, "labeled", "kept")
    (bias, labels), (trained, _) = saved_bias(run_dir), saved_bias(kept_dir)
    np.testing.assert_allclose(bias - trained, np.log([0.5 if n == "pos" else 1.5 for n in labels]), atol=1e-5)
    with pytest.raises(ConfigError, match="does not have: nope; gives no share for neg") as error:
        pool_run(toy_config, tmp_path, 0.5, {"pos": 1, "nope": 1}, "bad")
    assert "one positive share per label" in error.value.fix
    assert not (tmp_path / "bad" / "model.safetensors").exists()  # refused before training
    with pytest.raises((ConfigError, ValueError), match="positive numbers"):
        pool_run(toy_config, tmp_path, 0.5, {"pos": 0, "neg": 1}, "zero")
