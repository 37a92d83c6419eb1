"""task_options.long_text: chunks — long texts read in overlapping windows, in training and prediction."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lmtune
from conftest import sentiment_rows, write_csv
from lmtune import artifacts as art
from lmtune.data.examples import TextExample
from lmtune.errors import ConfigError
from lmtune.evaluation.predict import aggregate_windows, predict_windows, window_features
from lmtune.recipes.validation import validate_config
from lmtune.tasks.classification import Classification

LONG = "good great fine " * 6 + "the a of " * 4


@pytest.fixture
def tiny(tiny_backbone):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_backbone, num_labels=2).eval()
    return model, AutoTokenizer.from_pretrained(tiny_backbone)


def test_aggregation_is_the_mean_of_the_windows_logits(tiny):
    model, tokenizer = tiny
    texts = [LONG, "bad awful", LONG + " bad bad"]
    features, owners = window_features(tokenizer, texts, max_length=8, stride=2)
    assert np.bincount(owners).tolist()[1] == 1 and np.bincount(owners)[0] > 3
    assert all(len(f["input_ids"]) <= 8 for f in features)
    with torch.no_grad():
        per_window = [model(**{k: torch.tensor([v]) for k, v in f.items()}).logits[0].numpy() for f in features]
    for i, text in enumerate(texts):
        mean = np.mean([w for w, o in zip(per_window, owners) if o == i], axis=0)
        expected = np.exp(mean) / np.exp(mean).sum()
        got = predict_windows(model, tokenizer, [text], max_length=8, stride=2, progress=False)[0]
        np.testing.assert_allclose(got, expected, atol=1e-5)
    maxed = aggregate_windows(np.array([[1.0, 5.0], [3.0, 0.0], [2.0, 2.0]]), np.array([0, 0, 1]), 2, "max")
    np.testing.assert_array_equal(maxed, [[3.0, 5.0], [2.0, 2.0]])
    first_two, kept = window_features(tokenizer, [LONG], max_length=8, stride=2, max_windows=2)
    assert len(first_two) == 2 and kept.tolist() == [0, 0]


def test_a_labeled_text_trains_on_all_its_windows_and_a_pool_text_keeps_one_row(tiny):
    _, tokenizer = tiny
    task = Classification(["neg", "pos"], tokenizer, 8, {"long_text": "chunks", "stride": 2})
    encoded = task.encode([TextExample(LONG, "pos"), TextExample("bad awful", "neg")])
    labels = [f["labels"] for f in encoded.features]
    assert labels.count(1) > 3 and labels.count(0) == 1
    assert len(task.encode([TextExample(LONG, None), TextExample("bad", None)]).features) == 2
    cut = Classification(["neg", "pos"], tokenizer, 8)
    cut.encode([TextExample(LONG, "pos")])
    assert "long_text: chunks reads all of each" in cut.warnings[0]
    with pytest.raises(ConfigError, match="stride 6 leaves no new tokens"):
        Classification(["neg", "pos"], tokenizer, 8, {"long_text": "chunks", "stride": 6})


def long_rows(n, seed):
    """Each text: three toy sentences of one class in a row (18 words): several 10-token windows."""
    rows = sentiment_rows(3 * n, seed=seed)
    by = {lb: [r["text"] for r in rows if r["label"] == lb] for lb in ("pos", "neg")}
    return [{"text": " ".join(by[lb][3 * i:3 * i + 3]), "label": lb} for lb in by for i in range(n)]


def test_a_run_with_chunks_trains_predicts_and_explains_its_choices(toy_config, tmp_path):
    toy_config["data"] = {"train": str(write_csv(tmp_path / "long.csv", long_rows(20, 1))),
                          "test": str(write_csv(tmp_path / "long-test.csv", long_rows(8, 3))), "dev_size": 0}
    toy_config["model"]["max_length"] = 10
    toy_config["task_options"] = {"long_text": "chunks", "stride": 2}
    toy_config["method"] = {"name": "supervised"}
    result = lmtune.train(validate_config(toy_config), progress=False, log=lambda m: None)
    assert result.metrics["test"]["accuracy"] > 0.5
    records = lmtune.predict(result.run_dir, [r["text"] for r in long_rows(2, 5)], progress=False)
    assert len(records) == 4 and all(set(r["probabilities"]) == {"neg", "pos"} for r in records)
    assert art.read_json(result.run_dir / art.RUN_FILE)["status"] == "complete"


def test_semi_supervised_methods_refuse_chunks_and_auto_explains(toy_config, tmp_path):
    toy_config["data"]["unlabeled"] = str(tmp_path / "pool.txt")
    (tmp_path / "pool.txt").write_text("\n".join(r["text"] for r in sentiment_rows(10, seed=8)) + "\n")
    toy_config["task_options"] = {"long_text": "chunks", "stride": 2}
    toy_config["method"] = {"name": "self-training"}
    with pytest.raises(ConfigError, match="long_text: chunks trains on windows"):
        lmtune.train(validate_config(toy_config), progress=False, log=lambda m: None)
    toy_config["method"] = {"name": "auto"}
    toy_config["training"].update(epochs=1)
    toy_config["output_dir"] = str(tmp_path / "auto")
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    assert art.read_json(result.run_dir / art.RUN_FILE)["method"] == "supervised"
    assert any("semi-supervised methods read one row per text" in m for m in messages)
