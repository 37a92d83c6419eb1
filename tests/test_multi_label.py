"""task: multi-label — label sets in and out: read, split, budget, train, thresholds, eval, predict, serve."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

import lmtune
from conftest import NEGATIVE, POSITIVE, write_csv
from lmtune import artifacts as art
from lmtune.config import DataConfig
from lmtune.data import prepare_data
from lmtune.errors import DataError
from lmtune.recipes.validation import validate_config
from lmtune.tasks.multi_label import multilabel_metrics, tune_thresholds

GROUPS = {"pos": POSITIVE, "neg": NEGATIVE, "film": "movie film plot actor story scene".split()}
FILLER = "the a was is it this and of very quite".split()


def label_set_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        chosen = sorted(rng.sample(list(GROUPS), rng.choice([1, 1, 2])))
        words = [w for g in chosen for w in rng.sample(GROUPS[g], 2)] + rng.sample(FILLER, 3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": chosen})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def as_csv(path, rows):
    return write_csv(path, [{"text": r["text"], "label": "|".join(r["label"])} for r in rows])


@pytest.fixture
def multi_config(tiny_backbone, tmp_path):
    return {"task": "multi-label",
            "data": {"train": str(write_jsonl(tmp_path / "train.jsonl", label_set_rows(120, 1))),
                     "dev": str(as_csv(tmp_path / "dev.csv", label_set_rows(40, 2))),
                     "test": str(write_jsonl(tmp_path / "test.jsonl", label_set_rows(40, 3)))},
            "model": {"name": str(tiny_backbone), "max_length": 32},
            "method": {"name": "supervised"},
            "training": {"epochs": 6, "batch_size": 8, "learning_rate": 2e-3, "early_stopping_patience": None},
            "output_dir": str(tmp_path / "run"), "seed": 7}


def test_multi_label_end_to_end(multi_config, tmp_path):
    messages = []
    result = lmtune.train(validate_config(multi_config), progress=False, log=messages.append)
    test = result.metrics["test"]
    assert test["micro_f1"] > 0.6 and set(test["per_label"]) == {"film", "neg", "pos"}
    assert {"macro_f1", "samples_f1", "subset_accuracy"} <= set(test) and "at_0.5" in test
    info = art.read_json(result.run_dir / art.RUN_FILE)
    assert info["thresholds"]["method"] == "tuned" and set(info["thresholds"]["values"]) == {"film", "neg", "pos"}
    assert any("thresholds tuned on 40 dev texts" in m for m in messages)
    records = lmtune.predict(result.run_dir, ["good great movie film the", "bad awful the a"], progress=False)
    assert all(set(r["scores"]) == {"film", "neg", "pos"} for r in records)
    assert all(r["labels"] == [lb for lb, p in r["scores"].items() if p >= 0.5] for r in records)
    metrics = lmtune.evaluate(result.run_dir, tmp_path / "test.jsonl", progress=False)
    assert metrics["micro_f1"] == pytest.approx(test["micro_f1"])
    from fastapi.testclient import TestClient

    from lmtune.serve.app import create_app

    with TestClient(create_app(result.run_dir)) as client:
        served = client.post("/v1/predict", json={"texts": ["good great movie film the"]}).json()["predictions"]
    assert served[0]["labels"] == records[0]["labels"]
    from lmtune.recipes.export import export

    report = export(result.run_dir, tmp_path / "int8", "int8")
    assert report["checked_texts"] == 40 and report["label_agreement"] >= 0.9
    exported = lmtune.predict(tmp_path / "int8", ["good great movie film the"], progress=False)
    assert set(exported[0]["scores"]) == {"film", "neg", "pos"}
    assert (tmp_path / "int8" / "README.md").is_file()


def test_thresholds_tuned_on_dev_for_each_labels_f1():
    rng = np.random.default_rng(0)
    truth = (rng.random((300, 2)) < 0.3).astype(int)
    probs = np.where(truth == 1, rng.uniform(0.2, 0.6, truth.shape), rng.uniform(0.0, 0.3, truth.shape))
    found = tune_thresholds(probs, truth)
    assert (found < 0.5).all()  # the model's positives sit below 0.5: a lower threshold finds them
    tuned = multilabel_metrics(truth, probs >= found[None], ["a", "b"])
    assert tuned["macro_f1"] > multilabel_metrics(truth, probs >= 0.5, ["a", "b"])["macro_f1"] + 0.2


def test_labels_per_class_counts_per_label_and_splits_keep_label_sets(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", label_set_rows(200, 4))
    data = prepare_data(DataConfig(train=str(path), test_size=0.2, dev_size=0, labels_per_class=5), 0, "multi-label")
    counts = data.summary()["train_per_class"]
    assert set(counts) == {"film", "neg", "pos"} and min(counts.values()) >= 5
    assert len(data.train) <= 15 and data.unlabeled and all(ex.label is None for ex in data.unlabeled)
    assert all(isinstance(ex.label, tuple) for ex in data.test) and len(data.test) == 40


@pytest.mark.parametrize("label, problem", [
    (["pos", "spam"], "'spam' is not in task_options.labels"),
    ([], "an empty label set"),
    ([["pos"]], "every label in the list must be a string"),
    (3, "give a list or a '|'-separated string"),
])
def test_bad_label_sets_get_a_located_error(tmp_path, label, problem):
    rows = label_set_rows(20, 5)
    rows[7]["label"] = label
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=problem) as caught:
        prepare_data(DataConfig(train=str(path), test_size=0, dev_size=0), 0, "multi-label",
                     {"labels": ["film", "neg", "pos"]})
    assert "bad.jsonl:8" in str(caught.value)


def test_a_held_out_label_unknown_to_train_is_located(tmp_path):
    test = label_set_rows(10, 6)
    test[2]["label"] = ["pos", "sport"]
    with pytest.raises(DataError, match="'sport' in the test data never appears in train") as caught:
        prepare_data(DataConfig(train=str(write_jsonl(tmp_path / "t.jsonl", label_set_rows(30, 5))),
                                test=str(write_jsonl(tmp_path / "test.jsonl", test)), dev_size=0), 0, "multi-label")
    assert "test.jsonl:3" in str(caught.value)


def test_self_training_sets_pseudo_labels_per_label(multi_config, tmp_path):
    import torch

    from lmtune.methods.pseudo_labels import independent_targets

    probs = torch.tensor([0.9, 0.2, 0.5])
    assert independent_targets(probs, soft=False, temperature=0.5).tolist() == [1.0, 0.0, 1.0]
    sharp = independent_targets(probs, soft=True, temperature=0.5)
    assert sharp[0] > 0.9 and sharp[1] < 0.2 and abs(float(sharp[2]) - 0.5) < 1e-6
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(r["text"] for r in label_set_rows(60, 9)) + "\n")
    multi_config["data"]["unlabeled"] = str(pool)
    multi_config["method"] = {"name": "self-training", "rounds": 1, "threshold": 0.6}
    multi_config["training"].update(max_steps=90)
    result = lmtune.train(validate_config(multi_config), progress=False, log=lambda m: None)
    rounds = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"]
    labeled = [r for r in rounds if r.get("pseudo_labels")]
    assert labeled and set(labeled[0]["per_label"]) == {"film", "neg", "pos"}
    assert result.metrics["test"]["micro_f1"] > 0.5
