"""model.pooling mean: the appended layer hands the head the mean of the tokens (padding left
out), keeps averaging while it trains, saves as the backbone's own architecture, is refused where
it cannot be written; auto chooses it where the backbone declares mean pooling; a pruned student
keeps it on top."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

import lmtune
from conftest import toy_run_config
from lmtune import artifacts as art
from lmtune.errors import ConfigError
from lmtune.recipes.distill import distill
from lmtune.recipes.export import export
from lmtune.recipes.validation import validate_config
from lmtune.tasks.pooling import MARK, add_mean_pooling, declared_pooling, has_mean_pooling, mean_pooling_problem

QUIET = dict(progress=False, log=lambda m: None)


def tiny_classifier(**config) -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2, **config))


def batch():
    ids = torch.tensor([[2, 7, 9, 11, 3, 0, 0], [2, 5, 6, 8, 13, 17, 3]])
    return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def mean_then_norm(states, mask):
    mask = mask.unsqueeze(-1).float()
    mean = (states * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.layer_norm(mean, mean.shape[-1:])


def test_the_appended_layer_gives_the_head_the_mean_of_the_real_tokens(tmp_path):
    model = tiny_classifier().eval()
    inputs = batch()
    with torch.no_grad():
        below = model.bert(**inputs, output_hidden_states=True).last_hidden_state
    assert add_mean_pooling(model) and has_mean_pooling(model)
    assert model.config.num_hidden_layers == 3 and getattr(model.config, MARK) == "mean"
    with torch.no_grad():
        first = model.bert(**inputs).last_hidden_state[:, 0]
        alone = model.bert(input_ids=inputs["input_ids"][:1, :5]).last_hidden_state[:, 0]  # no padding at all
    assert torch.allclose(first, mean_then_norm(below, inputs["attention_mask"]), atol=0.02)
    assert torch.allclose(alone, first[:1], atol=1e-4)  # the padding took no part
    assert not add_mean_pooling(model) and model.config.num_hidden_layers == 3  # once only

    model.save_pretrained(tmp_path)  # plain transformers reads it back: same architecture, one layer more
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(again) is BertForSequenceClassification and has_mean_pooling(again)
    with torch.no_grad():
        assert torch.allclose(again(**inputs).logits, model(**inputs).logits, atol=1e-5)


def test_the_layer_keeps_averaging_while_it_trains():
    model = tiny_classifier()
    add_mean_pooling(model)
    pooler = model.bert.encoder.layer[-1].attention.self
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    for _ in range(3):
        loss = model(**batch(), labels=torch.tensor([0, 1])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    for linear in (pooler.query, pooler.key):  # each one's gradient is the other: zero stays zero
        assert not linear.weight.any() and not linear.bias.any()
    assert not torch.equal(pooler.value.weight, torch.eye(32))  # while the values learn


def test_architectures_whose_attention_cannot_average_are_named():
    from transformers import MPNetConfig, MPNetForSequenceClassification

    assert mean_pooling_problem(tiny_classifier()) is None
    assert "relative" in mean_pooling_problem(tiny_classifier(position_embedding_type="relative_key"))
    mpnet = MPNetForSequenceClassification(MPNetConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                                       num_attention_heads=2, intermediate_size=64))
    assert "MPNet" in mean_pooling_problem(mpnet)
    with pytest.raises(ConfigError, match="pooling: first"):
        add_mean_pooling(mpnet)


def with_pooling_config(source, target, mode: str):
    shutil.copytree(source, target)
    (target / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (target / "1_Pooling").mkdir()
    (target / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": mode == "cls",
         "pooling_mode_mean_tokens": mode == "mean", "pooling_mode_max_tokens": False}))
    return target


def test_declared_pooling_is_read_from_the_sentence_transformers_config(tiny_backbone, tmp_path):
    assert declared_pooling(with_pooling_config(tiny_backbone, tmp_path / "mean", "mean")) == "mean"
    assert declared_pooling(with_pooling_config(tiny_backbone, tmp_path / "cls", "cls")) == "cls"
    assert declared_pooling(tiny_backbone) is None


def test_auto_reads_the_mean_where_the_backbone_pools_by_mean(tiny_backbone, tmp_path):
    backbone = with_pooling_config(tiny_backbone, tmp_path / "st-backbone", "mean")
    log = []
    result = lmtune.train(validate_config(toy_run_config(backbone, tmp_path)), progress=False, log=log.append)
    info = art.read_json(result.run_dir / art.RUN_FILE)
    assert info["method"] == "supervised" and info["auto"]["model"] == {"head_init": "probe", "pooling": "mean"}
    assert info["auto"]["pooling"]["chosen"] == "mean" and "head reading the mean" in info["auto"]["why"]
    assert any("layer 3 appended" in line for line in log) and "pooling: mean" in (
        result.run_dir / art.CONFIG_FILE).read_text()
    model = AutoModelForSequenceClassification.from_pretrained(result.run_dir)
    assert model.config.num_hidden_layers == 3 and has_mean_pooling(model)
    assert result.metrics["test"]["accuracy"] > 0.7  # the toy task is learnt through the averaging layer
    predictions = lmtune.predict(result.run_dir, ["great wonderful film", "awful boring film"], progress=False)
    assert [p["label"] for p in predictions] == ["pos", "neg"]
    for fmt in ("onnx", "int8"):  # the export formats take the appended layer like any other
        report = export(result.run_dir, tmp_path / fmt, fmt)
        assert report["label_agreement"] >= 0.95, (fmt, report)

    # a backbone without a pooling config keeps the architecture's own head
    (tmp_path / "plain").mkdir()
    plain = lmtune.train(validate_config(toy_run_config(tiny_backbone, tmp_path / "plain")), **QUIET)
    info = art.read_json(plain.run_dir / art.RUN_FILE)
    assert info["auto"]["pooling"]["chosen"] == "first" and "pooling" not in info["auto"]["model"]
    assert AutoModelForSequenceClassification.from_pretrained(plain.run_dir).config.num_hidden_layers == 2


def test_mean_pooling_is_refused_where_it_has_nothing_to_feed(toy_config):
    toy_config["model"]["pooling"] = "mean"
    with pytest.raises(ConfigError, match="peft"):
        validate_config({**toy_config, "peft": {"method": "lora", "r": 4}})
    with pytest.raises(ConfigError, match="token-classification"):
        validate_config({**toy_config, "task": "token-classification"})


def test_a_pruned_student_keeps_the_averaging_layer_on_top(tiny_backbone, tmp_path):
    cfg = toy_run_config(tiny_backbone, tmp_path, method={"name": "supervised"})
    cfg["model"]["pooling"] = "mean"
    cfg["data"]["labels_per_class"] = 8
    teacher = lmtune.train(validate_config(cfg), **QUIET).run_dir
    log = []
    student = distill(teacher, "layers:1", output_dir=tmp_path / "student", overrides=["training.max_steps=2"],
                      compare=False, progress=False, log=log.append).run_dir
    taught = AutoModelForSequenceClassification.from_pretrained(teacher)
    pruned = AutoModelForSequenceClassification.from_pretrained(student)
    assert pruned.config.num_hidden_layers == 2 and has_mean_pooling(pruned)
    assert any("averaging layer" in line for line in log), log
    top = pruned.bert.encoder.layer[-1].attention.self
    assert not top.query.weight.any() and not top.key.weight.any()  # still the averaging layer
    assert taught.bert.encoder.layer[-1].attention.self.query.weight.abs().sum() == 0
