"""End to end on the second packaged backbone, all-mpnet-base-v2 (`model.name: mpnet`), in each
path that takes it: classification, LoRA, int8 and ONNX export, token classification, the
bootstrap's embeddings. Skipped where its parts are not installed (`make mpnet`)."""
from __future__ import annotations

from pathlib import Path

import pytest

import lmtune
from lmtune.packaged import BACKBONES, is_installed
from lmtune.quickstart import quickstart_config

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not is_installed(BACKBONES["mpnet"]), reason="mpnet parts not installed (make mpnet)")]

QUIET = {"progress": False, "log": lambda m: None}
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def bbc_run(tmp_path_factory):
    cfg = quickstart_config(2, str(tmp_path_factory.mktemp("mpnet") / "run"),
                            ["model.name=mpnet", "data.test_size=50", "model.max_length=128", "training.epochs=3"],
                            method="supervised")
    return lmtune.train(cfg, **QUIET)


def test_mpnet_classifies_bbc_news(bbc_run):
    from transformers import AutoModelForSequenceClassification

    assert bbc_run.metrics["test"]["accuracy"] >= 0.6, bbc_run.metrics["test"]  # 5 topics: chance 0.2
    model = AutoModelForSequenceClassification.from_pretrained(bbc_run.run_dir)
    assert type(model).__name__ == "MPNetForSequenceClassification"
    rows = lmtune.predict(bbc_run.run_dir, ["The striker scored twice in the cup final."], progress=False)
    assert rows[0]["label"] == "sports"


@pytest.mark.parametrize("fmt", ["int8", "onnx"])
def test_mpnet_exports(bbc_run, tmp_path, fmt):
    from lmtune.recipes.export import export

    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    report = export(bbc_run.run_dir, tmp_path / fmt, fmt, check_texts=20)
    assert report["checked_texts"] == 20 and report["texts_per_s"]["export"] > 0, report
    if fmt == "onnx":  # the same function (logits checked within 1e-4 when written)
        assert abs(report["accuracy"]["export"] - report["accuracy"]["original"]) <= 0.05, report
    # int8 of this barely trained model (3 epochs, 10 articles) flips unsure labels: it is scored,
    # not held to the original's accuracy (the int8 rule of `--quantize auto` checks that per run)
    rows = lmtune.predict(tmp_path / fmt, ["Shares fell 3% after the results."], progress=False)
    assert rows[0]["label"] in bbc_run.data.labels


def test_mpnet_lora_lands_on_its_attention(tmp_path):
    """peft has no default target modules for MPNet: lmtune's are its q and v projections."""
    from lmtune import artifacts as art

    cfg = quickstart_config(1, str(tmp_path / "lora"), ["model.name=mpnet", "data.test_size=10", "model.max_length=64",
                                                        "training.epochs=1"], method="supervised")
    cfg = lmtune.load_config(None, base={**cfg.model_dump(), "peft": {"method": "lora", "r": 4}})
    result = lmtune.train(cfg, **QUIET)
    record = art.read_json(result.run_dir / art.RUN_FILE)
    assert record["peft"]["method"] == "lora" and 0 < record["parameters"]["trainable"] < record["parameters"]["total"] / 50
    assert (result.run_dir / "adapter_model.safetensors").is_file()
    from safetensors.torch import load_file

    adapters = load_file(result.run_dir / "adapter_model.safetensors")
    assert any(".attn.q.lora_A" in k for k in adapters) and any(".attn.v.lora_B" in k for k in adapters)


def test_mpnet_tags_tokens(tmp_path):
    cfg = lmtune.load_config(DATA.parent.parent / "examples" / "ner_conll.yaml",
                             ["model.name=mpnet", f"data.train={DATA / 'tiny_ner.conll'}", "training.epochs=2",
                              "model.max_length=64", f"output_dir={tmp_path / 'ner'}"])
    result = lmtune.train(cfg, **QUIET)
    rows = lmtune.predict(result.run_dir, [["John", "lives", "in", "Paris"]], progress=False)
    assert len(rows[0]["tags"]) == 4 and result.metrics["global_step"] > 0


def test_mpnet_embeddings_put_sentiment_nearer_its_description():
    """The bootstrap's view: the mean-pooled embedding of a plainly positive sentence is nearer
    'a positive review' than 'a negative review' (MiniLM's often is not)."""
    from lmtune.evaluation.predict import embed_texts
    from lmtune.loading import load_encoder

    encoder, tokenizer, _ = load_encoder("mpnet")
    rows = embed_texts(encoder, tokenizer, ["a negative review", "a positive review",
                                            "A wonderful, moving film; I loved every minute.",
                                            "Dull, clumsy and far too long: a waste of an evening."],
                       max_length=64, progress=False)
    assert rows[2] @ rows[1] > rows[2] @ rows[0] and rows[3] @ rows[0] > rows[3] @ rows[1]
