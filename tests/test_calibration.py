"""Temperature scaling folded into the model, ECE, the reliability diagram and the abstain band."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lmtune
from conftest import sentiment_rows, write_csv
from lmtune import artifacts as art
from lmtune.errors import ConfigError
from lmtune.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    rescale,
)
from lmtune.recipes.validation import validate_config
from lmtune.tasks.classification import abstain, check_min_confidence
from lmtune.tasks.temperature import scale_output_layer


def overconfident(n=4000, sharpen=3.0, seed=0):
    """Probabilities of a model whose logits are `sharpen` times too large, and the true classes
    drawn from the calibrated ones."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 3))
    calibrated = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    classes = np.array([rng.choice(3, p=p) for p in calibrated])
    sharp = np.exp(sharpen * logits)
    return sharp / sharp.sum(1, keepdims=True), classes


def test_the_fitted_temperature_undoes_overconfidence():
    probs, classes = overconfident()
    temperature = fit_temperature(probs, classes)
    assert temperature == pytest.approx(3.0, rel=0.1)
    fixed = rescale(probs, temperature)
    assert negative_log_likelihood(fixed, classes) < negative_log_likelihood(probs, classes) - 0.1
    assert expected_calibration_error(fixed, classes) < expected_calibration_error(probs, classes) / 3
    assert (fixed.argmax(1) == probs.argmax(1)).all()  # no label changes


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    classes = [0, 1, 0, 0]
    # bins: 0.9 (two texts, one right) -> |0.5 - 0.9|; 0.6 (right) -> 0.4; 0.7 (wrong) -> 0.7
    assert expected_calibration_error(probs, classes) == pytest.approx((2 * 0.4 + 0.4 + 0.7) / 4)
    assert sum(b["texts"] for b in reliability_bins(probs, classes)) == 4


def test_folding_the_temperature_into_the_output_layer_rescales_its_probabilities():
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(5, 3), torch.randn(20, 5)
    before = torch.softmax(layer(x), -1).detach().numpy()
    scale_output_layer(layer, 2.5)
    after = torch.softmax(layer(x), -1).detach().numpy()
    np.testing.assert_allclose(after, rescale(before, 2.5), rtol=1e-4, atol=1e-6)


def noisy_dev(path, n_per_class=25, flip=0.2, seed=11):
    """A dev file whose labels are wrong for `flip` of the rows: a model sure of the words is overconfident."""
    rows = sentiment_rows(n_per_class, seed=seed)
    rng = np.random.default_rng(seed)
    for row in rows:
        if rng.random() < flip:
            row["label"] = "neg" if row["label"] == "pos" else "pos"
    return write_csv(path, rows)


def run(toy_config, tmp_path, name, calibration):
    toy_config["data"]["dev"] = str(noisy_dev(tmp_path / "dev-noisy.csv"))
    toy_config["method"] = {"name": "supervised"}
    toy_config["task_options"] = {"calibration": calibration}
    toy_config["training"].update(epochs=8)
    toy_config["output_dir"] = str(tmp_path / name)
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    return result, art.read_json(result.run_dir / art.RUN_FILE), messages


def test_a_run_is_calibrated_on_dev_and_every_path_reads_the_calibrated_model(toy_config, tmp_path):
    plain, plain_info, _ = run(dict(toy_config, training=dict(toy_config["training"])), tmp_path, "plain", "none")
    result, info, messages = run(toy_config, tmp_path, "calibrated", "temperature")
    assert "calibration" not in plain_info
    record = info["calibration"]
    assert record["method"] == "temperature" and record["dev_texts"] == 50
    assert record["temperature"] > 1  # noisy labels: the trained model is too sure
    assert record["dev_after"]["nll"] < record["dev_before"]["nll"]
    assert any("calibration: temperature" in m for m in messages)
    texts = [r["text"] for r in sentiment_rows(15, seed=3)]
    # one engine for both (auto may pick int8 for one run: the same labels, probabilities a few thousandths apart)
    fp32 = dict(quantize="none", precision="fp32", progress=False)
    before = np.array([list(p["probabilities"].values()) for p in lmtune.predict(plain.run_dir, texts, **fp32)])
    after = np.array([list(p["probabilities"].values()) for p in lmtune.predict(result.run_dir, texts, **fp32)])
    np.testing.assert_allclose(after, rescale(before, record["temperature"]), atol=2e-3)
    assert (after.argmax(1) == before.argmax(1)).all()
    test = result.metrics["test"]
    assert test["accuracy"] == plain.metrics["test"]["accuracy"]
    assert test["uncalibrated"]["ece"] == pytest.approx(plain.metrics["test"]["ece"], abs=2e-3)
    assert (result.run_dir / "reliability_diagram.png").stat().st_size > 1000


def test_too_small_a_dev_set_leaves_the_model_as_trained(toy_config, tmp_path):
    toy_config["method"] = {"name": "supervised"}
    toy_config["training"].update(epochs=1)
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    record = art.read_json(result.run_dir / art.RUN_FILE)["calibration"]
    assert record == {"method": "none", "reason": "only 20 dev texts (fewer than 30)", "temperature": 1.0}
    assert any("set data.dev_size to calibrate" in m for m in messages)


def test_abstain_band_keeps_the_best_class_and_counts_in_eval(trained_run, tmp_path):
    texts = [r["text"] for r in sentiment_rows(10, seed=4)]
    plain = lmtune.predict(trained_run.run_dir, texts, progress=False)
    threshold = float(np.median([r["score"] for r in plain]))
    out = tmp_path / "abstained.jsonl"
    records = lmtune.predict(trained_run.run_dir, texts, progress=False, min_confidence=threshold, abstained_output=out)
    for before, after in zip(plain, records):
        if before["score"] < threshold:
            assert after["label"] == "abstain" and after["predicted"] == before["label"] and after["abstained"]
        else:
            assert after == before
    held = [json.loads(line) for line in out.read_text().splitlines()]
    assert [h["text"] for h in held] == [t for t, r in zip(texts, plain) if r["score"] < threshold]
    data = write_csv(tmp_path / "labeled.csv", sentiment_rows(10, seed=4))
    metrics = lmtune.evaluate(trained_run.run_dir, data, progress=False, save=True, min_confidence=threshold)
    band = metrics["abstain"]
    assert band["abstained"] == len(held) and band["coverage"] == pytest.approx(1 - len(held) / len(texts))
    assert "ece" in metrics and (trained_run.run_dir / "eval" / "labeled" / "reliability_diagram.png").is_file()


def test_abstain_band_is_checked():
    with pytest.raises(ConfigError, match="not a probability"):
        check_min_confidence(1.5, "classification", ["a", "b"])
    with pytest.raises(ConfigError, match="applies to classification"):
        check_min_confidence(0.5, "generation", [])
    with pytest.raises(ConfigError, match="label named 'abstain'"):
        check_min_confidence(0.5, "classification", ["abstain", "b"])
    assert abstain([{"label": "a", "score": 0.4}], None) == [{"label": "a", "score": 0.4}]


def test_a_temperature_that_helps_only_the_texts_it_was_fitted_on_is_not_kept():
    from lmtune.evaluation.calibration import held_out_nll, significant_gain

    probs = np.tile([0.9, 0.1], (20, 1))
    classes = np.zeros(20, dtype=int)
    classes[1] = 1  # one confident mistake: the folds without it ask for the sharpest model
    kept, scaled = held_out_nll(probs, classes)
    assert scaled.mean() > kept.mean() and not significant_gain(kept, scaled)
    rng = np.random.default_rng(3)  # a near-chance model: sharpening it is noise, however it fits
    near = np.clip(0.5 + rng.normal(0, 0.02, 100), 0.4, 0.6)
    chance = np.stack([near, 1 - near], 1)
    assert not significant_gain(*held_out_nll(chance, rng.integers(0, 2, 100)))
    sharp, truth = overconfident(n=400)
    kept, scaled = held_out_nll(sharp, truth)
    assert scaled.mean() < kept.mean() - 0.1 and significant_gain(kept, scaled)
