"""End to end on the real packaged backbone (all-MiniLM-L6-v2) with a handful of BBC News examples."""
from __future__ import annotations

import pytest
from transformers import AutoModelForSequenceClassification

import lmtune
from lmtune.quickstart import quickstart_config

pytestmark = pytest.mark.slow


def test_quickstart_pipeline_on_the_packaged_backbone(tmp_path):
    cfg = quickstart_config(4, str(tmp_path / "run"), ["data.test_size=50", "model.max_length=128", "training.epochs=3"],
                            method="supervised")
    result = lmtune.train(cfg, progress=False, log=lambda m: None)
    test = result.metrics["test"]
    assert test["n"] == 50 and len(result.data.train) == 20
    # 5 topics: chance is 0.2; the pretrained features with a prototype head are far above it
    assert test["accuracy"] >= 0.6, test
    model = AutoModelForSequenceClassification.from_pretrained(result.run_dir)
    assert sorted(model.config.label2id) == ["business", "entertainment", "politics", "sports", "tech"]
    rows = lmtune.predict(result.run_dir, ["The striker scored twice in the cup final."], progress=False)
    assert rows[0]["label"] == "sports"


def test_self_training_on_the_packaged_backbone(tmp_path):
    """The semi-supervised path end to end on the real MiniLM: pool clustered and labeled, rounds recorded."""
    from lmtune import artifacts as art

    cfg = quickstart_config(2, str(tmp_path / "run"), ["data.test_size=50", "data.max_unlabeled=40",
                                                       "model.max_length=64", "training.max_steps=9",
                                                       "method.threshold=0.3"], method="self-training")
    result = lmtune.train(cfg, progress=False, log=lambda m: None)
    rounds = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"]
    # the preset's bootstrap: MiniLM's embeddings put BBC topics in their own clusters, and with
    # rounds=0 its labels train the whole run (no model round after it)
    assert [r["round"] for r in rounds] == [0]
    assert rounds[0]["source"] == "clusters" and "embedding" in rounds[0]["views"]
    assert rounds[0]["embedding_agreement"] >= 0.8 and rounds[0]["pseudo_labels"] > 0
    assert result.metrics["test"]["accuracy"] >= 0.5
