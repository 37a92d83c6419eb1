"""`lmtune distill`: layer pruning keeps the right weights, the distillation loss reduces to plain
training at alpha 0 and to hard labels at T 1 with a sure teacher, a tiny student learns the
teacher's answers on the toy task, the teacher pass is cached by chunk and resumes, a killed
distillation resumes, and a teacher that cannot teach is refused with a clear message."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lmtune
from conftest import Kill, Recorder, sentiment_rows, toy_run_config, write_csv
from lmtune import artifacts as art
from lmtune.errors import ConfigError, ModelError
from lmtune.evaluation.logits_cache import cached_logits
from lmtune.pruning import choose_layers, keep_layers
from lmtune.recipes.distill import STUDENT_INIT, TEACHER_LOGITS, distill
from lmtune.recipes.validation import validate_config

QUIET = dict(progress=False, log=lambda m: None)


@pytest.fixture(scope="module")
def teacher(tiny_backbone, tmp_path_factory):
    """A supervised run on 8 labels per class of the toy task; the other 64 texts are its pool."""
    tmp = tmp_path_factory.mktemp("teacher")
    cfg = toy_run_config(tiny_backbone, tmp, method={"name": "supervised"})
    cfg["data"]["labels_per_class"] = 8
    cfg["training"].update(epochs=12, batch_size=4)
    return lmtune.train(validate_config(cfg), **QUIET).run_dir


def test_choose_layers_spaces_them_and_keeps_the_last():
    assert choose_layers(6, "3") == [1, 3, 5]
    assert choose_layers(12, "4") == [2, 5, 8, 11]
    assert choose_layers(6, "0, 2,5") == [0, 2, 5]
    for bad in ("6", "0", "x", "1,9", "-1,2"):
        with pytest.raises(ConfigError, match="layers:"):
            choose_layers(6, bad)


def test_keep_layers_keeps_those_layers_weights(tmp_path):
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=3))
    original = {k: v.clone() for k, v in model.state_dict().items()}
    keep_layers(model, [1, 3])
    pruned = model.state_dict()
    assert model.config.num_hidden_layers == 2 and len(model.bert.encoder.layer) == 2
    for new, old in ((0, 1), (1, 3)):
        prefix, was = f"bert.encoder.layer.{new}.", f"bert.encoder.layer.{old}."
        layer = {k[len(prefix):]: v for k, v in pruned.items() if k.startswith(prefix)}
        assert layer and all(torch.equal(v, original[was + k]) for k, v in layer.items())
    for k in ("bert.embeddings.word_embeddings.weight", "classifier.weight", "bert.pooler.dense.weight"):
        assert torch.equal(pruned[k], original[k])
    model.save_pretrained(tmp_path)
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert again.config.num_hidden_layers == 2
    ids = torch.tensor([[2, 7, 9, 3]])
    assert torch.allclose(again(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-6)


def _method(tiny_backbone, alpha: float, temperature: float):
    from lmtune.methods import get_method
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task

    task = get_task("classification")(["neg", "pos"], load_tokenizer(str(tiny_backbone)), 32)
    cls = get_method("distill")
    return cls(cls.Config(alpha=alpha, temperature=temperature), task)


def test_alpha_zero_is_supervised_and_t1_with_a_sure_teacher_is_hard_labels(tiny_backbone):
    from lmtune.data.examples import TextExample as Example
    from lmtune.methods.base import Setup

    torch.manual_seed(0)
    method = _method(tiny_backbone, alpha=0.0, temperature=1.0)
    model, _ = method.task.build_model(str(tiny_backbone))
    pool = [Example(text=r["text"]) for r in sentiment_rows(4, seed=5)]
    labeled = [Example(text=r["text"], label=r["label"]) for r in sentiment_rows(3, seed=6)]
    sure = np.eye(2)[np.arange(len(pool)) % 2] * 50.0  # a teacher sure of alternating classes
    method.setup(Setup(model, "", pool, labeled, method.task.encode(labeled), 10, lambda m: None, pool_logits=sure))
    collate = method.task.collator()
    batch = collate(method.task.encode(labeled).features)
    drawn = collate(method.unlabeled_dataset(pool).features)
    loss, _, _ = method.loss(model, dict(batch), dict(drawn), step=0)
    assert torch.allclose(loss, model(**batch).loss)  # alpha 0: the labels' cross-entropy alone

    method.config = method.Config(alpha=1.0, temperature=1.0)
    rows = drawn.pop("pool_index")
    soft = method.unlabeled_loss(model, {**drawn, "pool_index": rows}, step=0)[0]
    hard = torch.nn.functional.cross_entropy(model(**drawn).logits, torch.as_tensor(sure.argmax(1))[rows])
    assert torch.allclose(soft, hard, atol=1e-4)


def test_a_student_learns_the_teachers_answers(teacher, tiny_backbone, tmp_path):
    recorder = Recorder()
    result = distill(teacher, str(tiny_backbone), output_dir=tmp_path / "student", callbacks=[recorder],
                     overrides=["training.logging_steps=1", "training.learning_rate=2e-3", "training.max_steps=40"], **QUIET)
    losses = recorder.series("unlabeled_loss")
    assert len(losses) >= 30 and np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8]), losses
    c = result.comparison
    assert c["agreement"] > 0.75, c  # 2 classes: chance is 0.5
    info = json.loads((result.run_dir / art.RUN_FILE).read_text())
    assert info["status"] == "complete" and info["method"] == "distill"
    assert info["distillation"]["teacher"] == str(teacher.resolve()) and info["distillation"]["pool"] == 64
    assert info["distillation"]["alpha"] == 1.0 and info["distillation"]["temperature"] == 2.0
    for name in ("teacher", "student"):
        row = c[name]
        assert row["docs_per_s"] > 0 and row["size_mb"] > 0 and row["peak_memory_mb"] > 0 and row["accuracy"] is not None
    assert (result.run_dir / TEACHER_LOGITS / "key.json").is_file()
    run = lmtune.load_run(result.run_dir)  # a normal run: eval and predict take it
    assert [r["label"] for r in lmtune.predict(run, ["good great happy", "bad awful sad"], progress=False)] == ["pos", "neg"]


def test_layers_student_starts_from_the_teachers_layers(teacher, tmp_path):
    log = []
    result = distill(teacher, "layers:1", output_dir=tmp_path / "pruned", progress=False, log=log.append,
                     overrides=["training.max_steps=4"])
    model = lmtune.load_run(result.run_dir).model
    assert model.config.num_hidden_layers == 1
    assert any("layers 1 of 0-1" in line for line in log), log
    assert not (result.run_dir / STUDENT_INIT).exists()  # the run dir holds the trained student only
    assert result.comparison["student"]["size_mb"] < result.comparison["teacher"]["size_mb"]


def test_a_killed_distillation_resumes(teacher, tiny_backbone, tmp_path):
    out = tmp_path / "killed"
    sets = ["training.max_steps=12", "training.checkpoint_minutes=0", "training.batch_size=8"]
    with pytest.raises(KeyboardInterrupt):
        distill(teacher, "layers:1", output_dir=out, overrides=sets, callbacks=[Kill(at_step=7)], compare=False, **QUIET)
    assert json.loads((out / art.RUN_FILE).read_text())["status"] == "interrupted"
    assert art.last_complete_checkpoint(out) is not None and (out / STUDENT_INIT / "config.json").is_file()
    log = []
    result = distill(teacher, "layers:1", output_dir=out, overrides=sets, resume=True, compare=False, progress=False,
                     log=log.append)
    assert result.metrics["global_step"] == 12
    assert any(line.startswith("resuming from") for line in log), log


def test_teacher_pass_is_cached_by_chunk_resumes_and_is_redone_for_other_texts(tmp_path):
    calls = []

    def compute(texts):
        calls.append(len(texts))
        return np.array([[len(t), 0.0] for t in texts])

    texts = [f"text {i}" * (i % 3 + 1) for i in range(10)]
    folder = tmp_path / "cache"
    first = cached_logits(compute, texts, folder, {"teacher": "a"}, chunk=4)
    assert calls == [4, 4, 2] and first[:, 0].tolist() == [len(t) for t in texts]
    (folder / "part-00001.npy").unlink()  # killed before the second chunk was written
    again = cached_logits(compute, texts, folder, {"teacher": "a"}, chunk=4)
    assert calls == [4, 4, 2, 4] and np.array_equal(again, first)
    cached_logits(compute, texts[:9], folder, {"teacher": "a"}, chunk=4)  # other texts: computed again
    cached_logits(compute, texts[:9], folder, {"teacher": "b"}, chunk=4)  # another teacher: again
    assert calls == [4, 4, 2, 4, 4, 4, 1, 4, 4, 1]


def test_a_teacher_that_cannot_teach_is_refused(tmp_path, teacher):
    with pytest.raises(ModelError, match="not an lmtune run"):
        distill(tmp_path / "nothing", "default", **QUIET)
    ner = tmp_path / "ner"
    ner.mkdir()
    (ner / art.RUN_FILE).write_text(json.dumps({"task": "token-classification", "status": "complete"}))
    with pytest.raises(ModelError, match="needs a classification run"):
        distill(ner, "default", **QUIET)
    with pytest.raises(ConfigError, match="layers:"):
        distill(teacher, "layers:5", output_dir=tmp_path / "too-many", **QUIET)


def test_method_distill_without_a_teacher_says_how(toy_config):
    toy_config["data"]["labels_per_class"] = 8
    toy_config["method"] = {"name": "distill"}
    with pytest.raises(ConfigError, match="lmtune distill TEACHER_RUN"):
        lmtune.train(validate_config(toy_config), **QUIET)


def test_distill_needs_unlabeled_text(tiny_backbone, tmp_path):
    cfg = toy_run_config(tiny_backbone, tmp_path, method={"name": "supervised"})
    cfg["training"]["epochs"] = 1
    full = lmtune.train(validate_config(cfg), **QUIET).run_dir  # every train row labeled: no pool
    with pytest.raises(ConfigError, match="--unlabeled"):
        distill(full, str(tiny_backbone), output_dir=tmp_path / "s", **QUIET)
    extra = write_csv(tmp_path / "more.csv", sentiment_rows(6, seed=9))
    result = distill(full, str(tiny_backbone), unlabeled=extra, output_dir=tmp_path / "s2", overwrite=True,
                     overrides=["training.max_steps=3"], compare=False, **QUIET)
    assert json.loads((result.run_dir / art.RUN_FILE).read_text())["distillation"]["pool"] == 12


def test_cli_prints_the_comparison_and_a_clear_error(teacher, tmp_path, capsys):
    from test_cli import cli

    out = tmp_path / "cli-student"
    assert cli("distill", str(teacher), "--student", "layers:1", "-o", str(out), "--set", "training.max_steps=2",
               "--no-progress") == 0
    printed = capsys.readouterr().out
    assert "teacher vs student" in printed and "peak MB" in printed and str(out) in printed
    assert cli("distill", str(tmp_path / "absent")) == 2
    assert "not an lmtune run directory" in capsys.readouterr().err


def test_several_processes_share_the_teacher_pass(tmp_path):
    import threading

    computed = []

    def compute(texts):
        computed.append(texts[0])
        return np.ones((len(texts), 2))

    texts = [f"text {i}" for i in range(10)]
    results = {}

    def rank(r):
        results[r] = cached_logits(compute, texts, tmp_path / "shared", {"teacher": "a"}, chunk=3, shard=(r, 2),
                                   poll_seconds=0.01)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (1, 0)]  # rank 1 starts first and waits for rank 0
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(computed) == sorted(texts[0::3]) and len(computed) == 4  # each chunk once, by one rank
    assert results[0].shape == results[1].shape == (10, 2)
