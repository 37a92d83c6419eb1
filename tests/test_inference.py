"""Fast inference paths: token-budget batches, int8 used only where the run's check allowed it,
attention dropout off for training speed."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lmtune
from lmtune import artifacts as art
from lmtune.device import choose_precision
from lmtune.errors import ConfigError
from lmtune.evaluation.inference import INT8_MAX_LOSS, INT8_MIN_AGREEMENT, check_int8, int8_copy, plan_inference
from lmtune.evaluation.predict import length_batches, predict_proba
from lmtune.models import config_overrides

AVX2 = {"cpu_name": "AMD EPYC", "amx_bf16": False, "avx512_bf16": False, "avx2": True}
AMX = {"cpu_name": "Intel Xeon", "amx_bf16": True, "avx512_bf16": True, "avx2": True}


def test_length_batches_respect_the_token_budget_and_cover_every_text_once():
    lengths = [300, 5, 12, 40, 7, 256, 256, 9, 100, 3]
    batches = length_batches(lengths, max_texts=4, max_tokens=512)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 512
    assert [lengths[i] for i in seen] == sorted(lengths)  # shortest first: little padding
    assert [len(b) for b in batches] == [4, 3, 2, 1]  # short texts many to a batch, long ones few


def test_training_records_the_int8_check(tiny_backbone, tmp_path):
    from conftest import toy_run_config
    from lmtune.recipes.validation import validate_config

    # the check runs where training runs in fp32 on a CPU: forced, so it runs on a bf16 CPU too
    cfg = toy_run_config(tiny_backbone, tmp_path, training={"epochs": 4, "batch_size": 8, "learning_rate": 2e-3,
                                                            "early_stopping_patience": None, "precision": "fp32"})
    run = lmtune.train(validate_config(cfg), progress=False, log=lambda m: None)
    info = art.read_json(run.run_dir / art.RUN_FILE)
    assert info["precision"]["chosen"] == "fp32"
    check = info["int8_check"]
    assert check["checked_texts"] == 40 and check["max_loss"] == INT8_MAX_LOSS
    assert 0 <= check["label_agreement"] <= 1 and 0 <= check["flipped_labels"] <= 40 and check["speedup"] > 0
    assert check["accuracy_loss"] == pytest.approx(check["fp32_accuracy"] - check["int8_accuracy"], abs=1e-3)
    assert check["use_int8"] == (check["accuracy_loss"] <= INT8_MAX_LOSS and check["speedup"] > 1
                                 and check["label_agreement"] >= INT8_MIN_AGREEMENT)


def test_int8_copy_quantizes_linear_layers_and_keeps_predictions(trained_run):
    run = lmtune.load_run(trained_run.run_dir)
    texts = [ex.text for ex in trained_run.data.test]
    fp32 = predict_proba(run.model, run.tokenizer, texts, max_length=32, progress=False)
    quantized = int8_copy(run.model)
    kinds = {type(m).__module__ for m in quantized.modules() if "Linear" in type(m).__name__}
    assert any("quantized" in k for k in kinds), kinds
    assert any(isinstance(m, torch.nn.Linear) for m in run.model.modules()), "the original is left in fp32"
    int8 = predict_proba(quantized, run.tokenizer, texts, max_length=32, progress=False)
    assert np.abs(int8 - fp32).max() < 0.05
    labels = [run.labels.index(ex.label) for ex in trained_run.data.test]
    check = check_int8(run.model, run.tokenizer, texts, labels, fp32, fp32_seconds=1e9, max_length=32)
    assert check["speedup"] > 1 and check["use_int8"] == (check["accuracy_loss"] <= INT8_MAX_LOSS and
                                                          check["label_agreement"] >= INT8_MIN_AGREEMENT)
    worse = [1 - lb for lb in labels]  # against flipped labels int8 cannot look better than it is
    assert check_int8(run.model, run.tokenizer, texts, worse, fp32, 1e9, max_length=32)["fp32_accuracy"] == \
        pytest.approx(1 - check["fp32_accuracy"])


def test_auto_uses_int8_only_where_allowed_and_never_on_bf16_cpus(trained_run):
    run = lmtune.load_run(trained_run.run_dir)
    avx2, amx = choose_precision("auto", AVX2, cuda=False), choose_precision("auto", AMX, cuda=False)
    ok = {"int8_check": {"use_int8": True, "speedup": 1.4, "int8_accuracy": 0.9, "fp32_accuracy": 0.9,
                         "checked_texts": 500}}
    bad = {"int8_check": {**ok["int8_check"], "use_int8": False, "int8_accuracy": 0.88}}

    def quantized(plan):
        return any("quantized" in type(m).__module__ for m in plan.model.modules())

    assert quantized(plan_inference(run.model, ok, "auto", precision=avx2))
    plan = plan_inference(run.model, bad, "auto", precision=avx2)
    assert not quantized(plan) and "0.8800 vs 0.9000" in plan.description
    assert not quantized(plan_inference(run.model, {}, "auto", precision=avx2))  # never checked: fp32
    plan = plan_inference(run.model, ok, "auto", precision=amx)
    assert not quantized(plan) and plan.precision == "bf16"
    assert quantized(plan_inference(run.model, bad, "int8", precision=avx2))  # forced
    assert not quantized(plan_inference(run.model, ok, "none", precision=avx2))
    with pytest.raises(ConfigError, match="int8"):
        plan_inference(run.model, ok, "int4", precision=avx2)


def test_predict_with_forced_int8_matches_fp32_labels(trained_run):
    texts = [ex.text for ex in trained_run.data.test]
    fp32 = lmtune.predict(trained_run.run_dir, texts, progress=False, quantize="none")
    int8 = lmtune.predict(trained_run.run_dir, texts, progress=False, quantize="int8")
    agree = np.mean([a["label"] == b["label"] for a, b in zip(fp32, int8)])
    assert agree >= 0.95


def test_attention_dropout_is_set_on_the_architectures_own_key(tiny_backbone, trained_run):
    assert config_overrides(str(tiny_backbone), None, 0.0) == {"attention_probs_dropout_prob": 0.0}
    assert config_overrides(str(tiny_backbone), None, None) == {}  # null keeps the backbone's value
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(trained_run.run_dir).attention_probs_dropout_prob == 0.0


def test_inference_precision_can_be_chosen_per_call(trained_run):
    """A run trained in fp32 for reproducibility can be scored in fp32 on a bf16 CPU too."""
    run = lmtune.load_run(trained_run.run_dir)
    plan = plan_inference(run.model, {}, "none", precision="fp32")
    assert plan.precision == "fp32" and "forced" in plan.description
    assert plan_inference(run.model, {}, "none", precision="auto").precision == choose_precision("auto").precision
    with pytest.raises(ConfigError, match="unknown precision 'fp64'") as err:
        plan_inference(run.model, {}, "none", precision="fp64")
    assert "auto, fp32 or bf16" in err.value.fix
    messages = []
    texts = [ex.text for ex in trained_run.data.test[:4]]
    records = lmtune.predict(trained_run.run_dir, texts, progress=False, quantize="none", precision="fp32",
                             log=messages.append)
    assert len(records) == 4 and any(m.startswith("inference: fp32 (forced") for m in messages)


def test_predict_output_never_destroys_what_it_should_not(trained_run, tmp_path, capsys):
    import os

    from lmtune.errors import ConfigError

    texts = tmp_path / "texts.csv"
    texts.write_text("text\ngood great film\nawful bad plot\n")
    kwargs = {"input": texts, "progress": False, "precision": "fp32"}
    with pytest.raises(ConfigError, match="is the input file"):
        lmtune.predict(trained_run.run_dir, output=texts, overwrite=True, **kwargs)
    assert texts.read_text().startswith("text\n")
    out = tmp_path / "p.jsonl"
    out.write_text("old\n")
    with pytest.raises(ConfigError, match="already exists"):
        lmtune.predict(trained_run.run_dir, output=out, **kwargs)
    lmtune.predict(trained_run.run_dir, output=out, overwrite=True, **kwargs)
    assert len(out.read_text().splitlines()) == 2
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    link = tmp_path / "link.jsonl"
    link.symlink_to(precious)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (link, fifo, tmp_path):
        with pytest.raises(ConfigError, match="writes regular files only"):
            lmtune.predict(trained_run.run_dir, output=target, overwrite=True, **kwargs)
    assert link.is_symlink() and precious.read_text() == "keep me" and fifo.is_fifo()
    capsys.readouterr()
    lmtune.predict(trained_run.run_dir, output="-", **kwargs)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["source"] for line in lines] == [f"{texts}:2", f"{texts}:3"]


def test_skipped_rows_keep_their_place_in_the_predictions(trained_run, tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "good film"}\n{"text": ""}\nnot json\n{"text": "bad plot"}\n')
    records = lmtune.predict(trained_run.run_dir, input=texts, on_bad_rows="skip", progress=False, precision="fp32")
    assert [r["source"] for r in records] == [f"{texts}:{n}" for n in (1, 2, 3, 4)]
    assert ["error" in r for r in records] == [False, True, True, False]


def test_int8_is_refused_when_labels_flip_although_the_accuracy_is_equal(monkeypatch):
    """4 of 150 answers change, two for the better and two for the worse: the accuracy is equal,
    and int8 is still refused."""
    import lmtune.evaluation.inference as inference

    fp32 = np.random.default_rng(0).dirichlet([1, 1], size=150).astype(np.float32)
    truth = fp32.argmax(1)
    truth[:2] = 1 - truth[:2]  # fp32 is wrong on rows 0 and 1
    int8 = fp32.copy()
    int8[:4] = int8[:4, ::-1]  # int8 flips rows 0-1 (now right) and 2-3 (now wrong)
    monkeypatch.setattr(inference, "int8_copy", lambda model: model)
    monkeypatch.setattr(inference, "predict_proba", lambda *a, **k: int8)
    check = inference.check_int8(None, None, ["t"] * 150, list(truth), fp32, fp32_seconds=1e9, max_length=8)
    assert check["accuracy_loss"] == 0  # the accuracy alone would have let it through
    assert check["flipped_labels"] == 4 and check["label_agreement"] == pytest.approx(146 / 150, abs=1e-4)
    assert not check["use_int8"]
    assert check["max_probability_change"] == pytest.approx(float(np.abs(fp32 - int8).max()), abs=1e-4)
