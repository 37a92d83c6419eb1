"""Train -> eval -> predict round trip, run-dir contents, reproducibility and resume, on a tiny BERT."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, TrainerCallback

import lmtune
from conftest import Kill
from lmtune import artifacts as art
from lmtune.errors import ConfigError, ModelError
from lmtune.recipes.validation import validate_config


def run(raw: dict, **kwargs):
    return lmtune.train(validate_config(raw), progress=False, log=lambda m: None, **kwargs)


def test_round_trip_train_eval_predict(toy_config, toy_files, tmp_path):
    toy_config["training"].update(epochs=8, early_stopping_patience=3)
    result = run(toy_config)
    d = result.run_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", art.RUN_FILE, art.CONFIG_FILE,
                 art.VERSIONS_FILE, art.DATA_FILE, art.METRICS_FILE, "confusion_matrix.png"):
        assert (d / name).is_file(), name
    assert list((d / art.TENSORBOARD).rglob("events.out.tfevents*")), "no TensorBoard logs"
    assert not (d / art.CHECKPOINTS).exists(), "checkpoints of a complete run are removed by default"
    info = json.loads((d / art.RUN_FILE).read_text())
    assert info["status"] == "complete" and info["labels"] == ["neg", "pos"]
    data = json.loads((d / art.DATA_FILE).read_text())
    assert data["fingerprints"][str(toy_files["train"])].startswith("sha256:")
    assert "torch" in json.loads((d / art.VERSIONS_FILE).read_text())
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "tokenizer.json", art.RUN_FILE):  # safetensors alone would write 0600
        assert (d / name).stat().st_mode & 0o777 == 0o666 & ~umask, name

    # the toy task is separable: the tiny model must learn it
    assert result.metrics["test"]["accuracy"] >= 0.9, result.metrics["test"]
    # a plain transformers load of the run dir gives the same predictions
    model = AutoModelForSequenceClassification.from_pretrained(d)
    assert model.config.id2label == {0: "neg", 1: "pos"}

    metrics = lmtune.evaluate(d, toy_files["test"], progress=False)
    assert metrics["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    assert (d / "eval" / "test" / "metrics.json").is_file()

    out = tmp_path / "pred.jsonl"
    rows = lmtune.predict(d, input=toy_files["test"], output=out, progress=False)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert written == rows and len(rows) == 30
    truth = [json.loads(line)["label"] for line in toy_files["test"].read_text().splitlines()]
    assert sum(r["label"] == t for r, t in zip(rows, truth)) / len(truth) == pytest.approx(metrics["accuracy"])
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    # order of results follows input order even though batches are sorted by length
    texts = ["good great", "bad awful terrible horrible poor sad"]
    single = [lmtune.predict(d, [t], progress=False)[0] for t in texts]
    assert lmtune.predict(d, texts, batch_size=1, progress=False) == single


def test_same_seed_same_weights(toy_config, tmp_path):
    """One seed decides everything: two runs end with bit-identical weights (accuracy alone would
    pass on a toy task any run solves), and another seed ends elsewhere."""
    from safetensors.torch import load_file

    def weights(seed: int, name: str) -> dict:
        result = run({**toy_config, "seed": seed, "output_dir": str(tmp_path / name)})
        return load_file(result.run_dir / "model.safetensors")

    a, b, other = weights(42, "a"), weights(42, "b"), weights(7, "c")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], other[k]) for k in a)


@pytest.mark.parametrize("pooling", ["first", "mean"])  # mean: the appended averaging layer resumes too
def test_resume_after_interruption_reaches_the_same_metrics(toy_config, tmp_path, pooling):
    toy_config["training"]["epochs"] = 3  # 80 rows / batch 8 = 10 steps per epoch
    toy_config["model"]["pooling"] = pooling
    reference = run(toy_config)
    toy_config["output_dir"] = str(tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        run(toy_config, callbacks=[Kill(at_step=15)])
    killed = tmp_path / "killed"
    info = json.loads((killed / art.RUN_FILE).read_text())
    assert info["status"] == "interrupted" and info["interrupted_at_step"] == 15
    with pytest.raises(ModelError, match="did not finish"):
        lmtune.load_run(killed)
    with pytest.raises(ConfigError, match="--resume"):
        run(toy_config)
    # a half-written newer checkpoint (killed mid-save) is passed over
    half = killed / art.CHECKPOINTS / "checkpoint-99"
    half.mkdir()
    (half / "trainer_state.json").write_text('{"global_st')
    assert art.last_complete_checkpoint(killed).name == "checkpoint-10"
    resumed = run(toy_config, resume=True)
    assert resumed.metrics["global_step"] == reference.metrics["global_step"] == 30
    assert resumed.metrics["test"]["confusion_matrix"] == reference.metrics["test"]["confusion_matrix"]
    ref_model = AutoModelForSequenceClassification.from_pretrained(reference.run_dir)
    new_model = AutoModelForSequenceClassification.from_pretrained(resumed.run_dir)
    for (name, p), q in zip(ref_model.named_parameters(), new_model.parameters()):
        assert torch.allclose(p, q, atol=1e-5), name


def test_sigterm_records_an_interrupted_run_and_says_how_to_resume(toy_config):
    import signal

    class Term(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 12:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    logged = []
    with pytest.raises(KeyboardInterrupt):
        lmtune.train(validate_config(toy_config), callbacks=[Term()], progress=False, log=logged.append)
    info = json.loads((Path(toy_config["output_dir"]) / art.RUN_FILE).read_text())
    assert info["status"] == "interrupted" and info["interrupted_at_step"] == 12
    assert any("interrupted at step 12" in m and "--resume" in m and "checkpoint-10" in m for m in logged)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert run(toy_config, resume=True).metrics["global_step"] == 40


def test_resume_refuses_a_changed_config_or_data_and_a_complete_run(toy_config, toy_files, tmp_path):
    import copy
    import shutil

    toy_config["training"]["epochs"] = 2
    (tmp_path / "mine").mkdir()
    train = Path(shutil.copy(toy_files["train"], tmp_path / "mine" / "train.csv"))
    toy_config["data"]["train"] = str(train)
    with pytest.raises(KeyboardInterrupt):
        run(toy_config, callbacks=[Kill(at_step=12)])
    changed = copy.deepcopy(toy_config)
    changed["training"]["learning_rate"] = 1e-3
    with pytest.raises(ConfigError) as err:
        run(changed, resume=True)
    assert "training.learning_rate: 0.002 -> 0.001" in err.value.message and "--resume-anyway" in err.value.fix
    train.write_text(train.read_text() + "one more row,pos\n")
    with pytest.raises(ConfigError, match=f"data file {train}: changed"):
        run(toy_config, resume=True)
    logged = []
    result = lmtune.train(validate_config(changed), resume_anyway=True, progress=False, log=logged.append)
    assert result.metrics["global_step"] >= 20
    assert any("resuming anyway" in m and "training.learning_rate" in m for m in logged)
    with pytest.raises(ConfigError, match="complete run: there is nothing to resume"):
        run(changed, resume=True)


def test_prototype_head_separates_classes_before_any_training(tiny_backbone, toy_files):
    from lmtune.data import read_examples
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task
    from lmtune.tasks.classification import init_head_from_prototypes

    examples = read_examples(toy_files["train"]).examples
    task = get_task("classification")(["neg", "pos"], load_tokenizer(str(tiny_backbone)), 32)
    model, fresh = task.build_model(str(tiny_backbone))
    assert fresh == ["classifier.bias", "classifier.weight"]
    data = task.encode(examples)
    batch = task.collator()([data[i] for i in range(len(data))])
    labels = batch.pop("labels")
    model.eval()
    before = (model(**batch).logits.argmax(-1) == labels).float().mean()
    init_head_from_prototypes(model, data, task.collator())
    after = (model(**batch).logits.argmax(-1) == labels).float().mean()
    assert after > before and after >= 0.8, (before, after)


@pytest.mark.parametrize("labels", [["neg", "pos"], ["a", "b", "c"]])
def test_probe_head_answers_as_the_logistic_regression_on_its_features(tiny_backbone, tmp_path, labels):
    """head_init probe: at step 0 the model's probabilities are scikit-learn's logistic regression
    fitted on what the output layer receives (two classes: one row written as two)."""
    from sklearn.linear_model import LogisticRegression

    from lmtune.data.examples import TextExample as Example
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task
    from lmtune.tasks.classification import head_inputs, init_head_from_probe, output_layer

    words = ["good fine great", "bad awful poor", "table chair desk"]
    examples = [Example(f"{words[i % len(labels)]} {j}", labels[i % len(labels)]) for j in range(4)
                for i in range(len(labels))]
    task = get_task("classification")(labels, load_tokenizer(str(tiny_backbone)), 32)
    torch.manual_seed(0)
    model = task.build_model(str(tiny_backbone))[0].eval()
    data = task.encode(examples)
    layer = output_layer(model, len(labels))
    feats, y = head_inputs(model, layer, data, list(range(len(data))), task.collator())
    expected = LogisticRegression(max_iter=3000).fit(feats.numpy(), y.numpy()).predict_proba(feats.numpy())
    assert init_head_from_probe(model, data, task.collator())
    batch = task.collator()([data[i] for i in range(len(data))])
    batch.pop("labels")
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1).numpy()
    assert np.allclose(probs, expected, atol=1e-4)
    missing = task.encode([ex for ex in examples if ex.label != labels[0]])
    weight = layer.weight.clone()
    assert not init_head_from_probe(model, missing, task.collator())  # a class with no example: left alone
    assert torch.equal(layer.weight, weight)


def test_probe_head_is_for_single_label_classification(toy_config):
    with pytest.raises(ConfigError, match="head_init: probe fits a logistic regression"):
        validate_config({**toy_config, "task": "multi-label-classification", "model": {"head_init": "probe"}})


def test_prototype_head_reads_at_most_its_cap_per_class(tiny_backbone, toy_files, monkeypatch):
    """A large labeled set starts the head from the first PROTOTYPE_EXAMPLES rows of each class:
    the same head as from exactly those rows."""
    from lmtune.data import read_examples
    from lmtune.models import load_tokenizer
    from lmtune.tasks import EncodedDataset, get_task
    from lmtune.tasks import classification as cls_module

    assert cls_module.prototype_rows([0, 1, 0, 0, 1, 2], 2) == [0, 1, 2, 4, 5]
    examples = read_examples(toy_files["train"]).examples
    task = get_task("classification")(["neg", "pos"], load_tokenizer(str(tiny_backbone)), 32)
    data = task.encode(examples)
    monkeypatch.setattr(cls_module, "PROTOTYPE_EXAMPLES", 3)
    rows = cls_module.prototype_rows([int(f["labels"]) for f in data.features], 3)
    assert len(rows) == 6
    capped, exact = task.build_model(str(tiny_backbone))[0], task.build_model(str(tiny_backbone))[0]
    exact.load_state_dict(capped.state_dict())
    cls_module.init_head_from_prototypes(capped, data, task.collator())
    cls_module.init_head_from_prototypes(exact, EncodedDataset([data.features[i] for i in rows]), task.collator())
    assert torch.allclose(capped.classifier.weight, exact.classifier.weight)


def test_metric_must_belong_to_the_task(toy_config):
    toy_config["training"]["metric"] = "bleu"
    with pytest.raises(ConfigError, match="not a metric of task 'classification'"):
        run(toy_config)


def test_missing_local_backbone_is_a_clear_error(toy_config):
    toy_config["model"]["name"] = "./no/such/model"
    with pytest.raises(ModelError, match="model directory not found"):
        run(toy_config)


def test_hub_name_goes_to_the_hub_loader(toy_config):
    # offline in tests (HF_HUB_OFFLINE=1): the real hub code path runs and fails with a clear message
    toy_config["model"]["name"] = "bert-base-uncased"
    with pytest.raises(ModelError, match="cannot load 'bert-base-uncased' from the Hugging Face hub"):
        run(toy_config)


def test_skipped_rows_go_to_a_rejects_file(toy_config, toy_files):
    with toy_files["train"].open("a") as handle:
        handle.write('"",pos\nthree,fields,here\n')
    toy_config["data"]["on_bad_rows"] = "skip"
    toy_config["training"]["epochs"] = 1
    result = run(toy_config)
    rejects = [json.loads(line) for line in (result.run_dir / art.REJECTS_FILE).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [82, 83]
    assert json.loads((result.run_dir / art.DATA_FILE).read_text())["rejected"] == 2


def test_max_length_is_honoured_in_training_and_prediction(tiny_backbone):
    from lmtune.data import TextExample
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task

    tok = load_tokenizer(str(tiny_backbone))
    task = get_task("classification")(["neg", "pos"], tok, 16)
    long = TextExample(" ".join(["good"] * 100), "pos")
    assert len(task.encode([long])[0]["input_ids"]) == 16


def test_encoding_is_cached_by_content(tiny_backbone, monkeypatch, tmp_path):
    """Same texts, tokenizer and settings: the second encode loads features instead of tokenizing;
    another max_length or another text is a miss; LMTUNE_CACHE_DIR=off never touches disk."""
    from lmtune.data import TextExample
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task

    monkeypatch.setenv("LMTUNE_CACHE_DIR", str(tmp_path / "cache"))
    tokenizer = load_tokenizer(str(tiny_backbone))
    calls = []
    real = tokenizer.__class__.__call__

    def counting(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tokenizer.__class__, "__call__", counting)
    examples = [TextExample("good movie", "pos"), TextExample("bad film", "neg")]
    task = get_task("classification")(["neg", "pos"], tokenizer, 16)
    first = task.encode(examples)
    again = task.encode(examples)
    assert len(calls) == 1 and again.features == first.features
    get_task("classification")(["neg", "pos"], tokenizer, 8).encode(examples)
    task.encode(examples[:1])
    assert len(calls) == 3
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 3

    monkeypatch.setenv("LMTUNE_CACHE_DIR", "off")
    task.encode(examples)
    assert len(calls) == 4 and len(list((tmp_path / "cache").glob("*.pkl"))) == 3


def test_many_tiny_epochs_are_evaluated_every_kth_epoch(toy_config, tmp_path):
    """60 epochs of 1 step (8 examples, batch 16): dev scored at most 20 times, on epoch ends, from
    a third of the run on (short epochs delay the first evaluation)."""
    from lmtune.training.common import MAX_EVALUATIONS

    toy_config["data"]["labels_per_class"] = 4
    toy_config["method"] = {"name": "supervised"}  # the default, auto, would train on the rest of the pool
    toy_config["training"].update(epochs=60, early_stopping_patience=None, keep_checkpoints=True)
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    last = max((result.run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())
    evals = [e["step"] for e in state["log_history"] if "eval_loss" in e]
    assert len(evals) <= MAX_EVALUATIONS and evals == list(range(21, 61, 3))  # every 3rd epoch after step 20
    assert any("checkpoints every 3 epochs (3 steps), at most 20" in m for m in messages)
    assert result.metrics["best_checkpoint"].endswith(tuple(f"checkpoint-{s}" for s in evals))


def test_without_a_dev_set_checkpoints_are_timed(toy_config):
    """No dev set, nothing to select: a checkpoint per training.checkpoint_minutes, not per epoch."""
    del toy_config["data"]["dev"]
    toy_config["data"]["dev_size"] = 0
    toy_config["training"].update(epochs=3, keep_checkpoints=True)

    def checkpoints(**training) -> list[int]:
        cfg = {**toy_config, "training": {**toy_config["training"], **training}}
        result = run(cfg, overwrite=True)
        return sorted(int(p.name.split("-")[1]) for p in (result.run_dir / "checkpoints").glob("checkpoint-*"))

    assert checkpoints() == []  # a run shorter than the default 5 minutes writes none
    assert checkpoints(checkpoint_minutes=0, save_total_limit=10) == [10, 20, 30]  # one per epoch
    timed = checkpoints(checkpoint_minutes=1e-5, save_total_limit=100)  # every step, bar the last
    assert timed == list(range(1, 30))


def test_overwrite_never_deletes_a_directory_lmtune_did_not_write(toy_config, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not an lmtune run directory"):
        run({**toy_config, "output_dir": str(victim)}, overwrite=True)
    assert (victim / "notes.txt").read_text() == "precious"
    first = run({**toy_config, "output_dir": str(tmp_path / "mine")})
    again = run({**toy_config, "output_dir": str(tmp_path / "mine")}, overwrite=True)  # its own run: replaced
    assert again.run_dir == first.run_dir and (again.run_dir / art.RUN_FILE).is_file()


def test_short_epochs_delay_the_first_dev_evaluation():
    from lmtune.config import RunConfig
    from lmtune.training.common import checkpoint_schedule

    cfg = RunConfig.model_validate({"data": {"train": "x.csv"}, "training": {"epochs": 15, "batch_size": 8}})
    messages = []
    few = checkpoint_schedule(cfg, 20, True, messages.append)  # 3 steps per epoch, 45 steps
    assert few == {"eval_strategy": "epoch", "save_strategy": "epoch", "eval_delay": 5}
    assert "first scored after 5 epochs" in messages[0]
    assert "eval_delay" not in checkpoint_schedule(cfg, 2000, True, messages.append)  # 250 steps per epoch
    assert "eval_delay" not in checkpoint_schedule(cfg, 20, False, messages.append)  # nothing to evaluate
