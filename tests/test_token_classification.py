"""Token classification: CoNLL/JSONL readers, tag schemes, sub-token alignment, long sentences,
seqeval scores, training end to end on a tiny model, predict with character offsets."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from conftest import NEGATIVE, NEUTRAL, POSITIVE, write_jsonl

DATA = Path(__file__).parent / "data"


def ner_rows(n: int, seed: int = 0) -> list[dict]:
    """Toy NER: POSITIVE words are people (PER, one or two words), NEGATIVE words places (LOC)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        tokens, tags = [], []
        for _ in range(rng.randint(2, 4)):
            tokens += rng.sample(NEUTRAL, 2)
            tags += ["O", "O"]
            kind, words = rng.choice((("PER", POSITIVE), ("LOC", NEGATIVE)))
            span = rng.sample(words, rng.randint(1, 2))
            tokens += span
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(span) - 1)
        rows.append({"tokens": tokens, "tags": tags})
    return rows


def test_conll_reader_skips_docstart_and_reads_sentences():
    from lmtune.data.token_readers import read_token_examples

    result = read_token_examples(DATA / "tiny_ner.conll")
    assert result.scheme == "bio"
    assert [len(ex.tokens) for ex in result.examples] == [9, 2, 2, 12]
    assert result.examples[1].tokens == ("Peter", "Blackburn") and result.examples[1].tags == ("B-PER", "I-PER")
    assert result.examples[0].source == "tiny_ner.conll:3"  # the sentence's first line


def test_conll_reader_locates_wrong_column_counts(tmp_path):
    from lmtune.data.token_readers import read_token_examples
    from lmtune.errors import DataError

    path = tmp_path / "bad.conll"
    path.write_text("John B-PER\nlives O\n\nNew York B-LOC\nis O\n\nParis B-LOC\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_token_examples(path)
    assert err.value.where == f"{path}:4" and "3 columns" in err.value.message
    result = read_token_examples(path, on_bad_rows="skip")
    assert [ex.tokens for ex in result.examples] == [("John", "lives"), ("Paris",)]  # the bad sentence goes whole
    assert [(r.line, "3 columns" in r.reason) for r in result.rejects] == [(4, True)]


def test_tag_outside_the_scheme_is_rejected(tmp_path):
    from lmtune.data.token_readers import read_token_examples

    path = tmp_path / "s.conll"
    path.write_text("John S-PER\n\nParis B-LOC\n", encoding="utf-8")
    result = read_token_examples(path, scheme="bio", on_bad_rows="skip")
    assert [ex.tokens for ex in result.examples] == [("Paris",)]
    assert "S-PER" in result.rejects[0].reason and result.rejects[0].line == 1
    assert read_token_examples(path).scheme == "bioes"  # auto-detected: S- tags mean BIOES


def test_i_tag_without_b_under_strict_bio(tmp_path):
    from lmtune.data.token_readers import read_token_examples
    from lmtune.errors import DataError

    path = tmp_path / "i.conll"
    path.write_text("the O\nBig I-ORG\nBank I-ORG\n\nParis B-LOC\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_token_examples(path)
    assert err.value.where == f"{path}:2" and "I-ORG follows O" in err.value.message  # the tag's own line
    warned = read_token_examples(path, invalid_spans="warn")
    assert warned.examples[0].tags == ("O", "I-ORG", "I-ORG") and len(warned.warnings) == 1
    repaired = read_token_examples(path, invalid_spans="repair")
    assert repaired.examples[0].tags == ("O", "B-ORG", "I-ORG") and len(repaired.warnings) == 1


def test_one_mistyped_tag_under_auto_is_named_with_its_line(tmp_path):
    from lmtune.data.token_readers import read_token_examples

    path = tmp_path / "typo.conll"
    path.write_text("John B-PER\nSmith I-PER\n\nin O\nParis B-LOC\n\nAnn B_PER\nlives O\n", encoding="utf-8")
    result = read_token_examples(path)
    assert result.scheme == "plain"  # what the typo does: the warning says so
    assert len(result.warnings) == 1
    assert f"{path}:7" in result.warnings[0] and "'B_PER'" in result.warnings[0] and "plain" in result.warnings[0]
    clean = tmp_path / "clean.conll"
    clean.write_text("John B-PER\nSmith I-PER\n", encoding="utf-8")
    assert read_token_examples(clean).warnings == []
    pos = tmp_path / "pos.conll"  # real plain tags: nothing to warn about
    pos.write_text("the DET\ndog NOUN\nruns VERB\n", encoding="utf-8")
    assert read_token_examples(pos).warnings == []


def test_a_bad_tag_is_rejected_at_its_own_line(tmp_path):
    from lmtune.data.token_readers import read_token_examples

    path = tmp_path / "bad.conll"
    path.write_text("John B-PER\nSmith X-PER\n\nParis B-LOC\n", encoding="utf-8")
    result = read_token_examples(path, scheme="bio", on_bad_rows="skip")
    assert result.rejects[0].line == 2 and "X-PER" in result.rejects[0].reason


def test_jsonl_reader_rejects_mismatched_rows(tmp_path):
    from lmtune.data.token_readers import read_token_examples

    path = write_jsonl(tmp_path / "t.jsonl", [{"tokens": ["a", "b"], "tags": ["O", "B-X"]},
                                              {"tokens": ["a", "b"], "tags": ["O"]},
                                              {"tokens": [], "tags": []}])
    result = read_token_examples(path, on_bad_rows="skip")
    assert len(result.examples) == 1
    assert [(r.line, r.reason) for r in result.rejects][0] == (2, "2 tokens but 1 tags")
    assert result.rejects[1].line == 3


@pytest.fixture
def ner_task(tiny_backbone):
    from transformers import AutoTokenizer

    from lmtune.tasks import get_task

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    assert tokenizer.is_fast
    return lambda **options: get_task("token-classification")(
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], tokenizer, options.pop("max_length", 64), options)


def test_first_subtoken_carries_the_tag(ner_task):
    from lmtune.data.examples import TokenExample

    ex = TokenExample(("goods", "the", "nicely"), ("B-PER", "O", "B-LOC"))  # good ##s, nice ##ly
    task = ner_task()
    features = task.encode([ex]).features
    assert task.tokenizer.convert_ids_to_tokens(features[0]["input_ids"]) == \
        ["[CLS]", "good", "##s", "the", "nice", "##ly", "[SEP]"]
    assert features[0]["labels"] == [-100, 1, -100, 0, 3, -100, -100]
    assert ner_task(label_subtokens="all").encode([ex]).features[0]["labels"] == [-100, 1, 1, 0, 3, 3, -100]


def test_long_sentence_becomes_overlapping_windows_and_one_tag_per_word(ner_task):
    from lmtune.data.examples import TokenExample

    words = tuple((NEUTRAL * 3)[:40])
    task = ner_task(max_length=16, stride=4)
    features, windows = task._windows([TokenExample(words, ("O",) * len(words))])
    assert len(features) > 2 and all(len(f["input_ids"]) <= 16 for f in features)
    covered = {w for _, ids in windows for w in ids if w is not None}
    assert covered == set(range(len(words)))  # nothing cut
    import torch
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(task.tokenizer.name_or_path, num_labels=5)
    tags = task.predict_tags(model, [words])
    assert len(tags) == 1 and len(tags[0]) == len(words)


def test_seqeval_scores_on_a_known_case():
    from lmtune.tasks.token_classification import sequence_scores

    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-PER", "O"]]
    scores = sequence_scores(true, pred, "bio")
    assert scores["token_accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"] == pytest.approx(1 / 2)  # PER right, LOC-as-PER wrong
    assert scores["recall"] == pytest.approx(1 / 3)     # 1 of PER, LOC, LOC found
    assert scores["f1"] == pytest.approx(0.4)
    assert scores["per_type"]["PER"]["precision"] == pytest.approx(0.5)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    plain = sequence_scores([["NN", "VB", "NN"]], [["NN", "NN", "NN"]], "plain")
    assert plain["token_accuracy"] == pytest.approx(2 / 3) and plain["per_type"]["VB"]["recall"] == 0.0


def ner_config(tiny_backbone, tmp_path, **overrides):
    from lmtune.recipes.validation import load_config

    train = write_jsonl(tmp_path / "train.jsonl", ner_rows(160))
    test = write_jsonl(tmp_path / "test.jsonl", ner_rows(40, seed=1))
    base = {"task": "token-classification", "data": {"train": str(train), "test": str(test), "dev_size": 0.15},
            "model": {"name": str(tiny_backbone), "max_length": 64},
            "training": {"epochs": 12, "batch_size": 16, "learning_rate": 3e-3, "early_stopping_patience": None,
                         "precision": "fp32"},
            "output_dir": str(tmp_path / "run")}
    return load_config(base=base, overrides=[f"{k}={v}" for k, v in overrides.items()])


def test_train_predict_evaluate_end_to_end(tiny_backbone, tmp_path):
    from lmtune.api import evaluate, predict
    from lmtune.recipes.finetune import train

    result = train(ner_config(tiny_backbone, tmp_path), progress=False, log=lambda m: None)
    test = result.metrics["test"]
    assert test["f1"] > 0.9 and test["token_accuracy"] > 0.95, test
    assert set(test["per_type"]) == {"PER", "LOC"}
    records = predict(result.run_dir, ["the movie good great was bad", "it was nice"], progress=False, quantize="none")
    assert records[0]["entities"] == [{"type": "PER", "start": 10, "end": 20, "text": "good great"},
                                      {"type": "LOC", "start": 25, "end": 28, "text": "bad"}]
    assert records[1]["tokens"][2] == {"token": "nice", "start": 7, "end": 11, "tag": "B-PER"}
    words = ["the", "movie", "good", "great", "was", "bad"]
    pre = predict(result.run_dir, [words], progress=False, quantize="none")
    assert pre == [{"tokens": words, "tags": [t["tag"] for t in records[0]["tokens"]]}]  # same words, same tags
    again = evaluate(result.run_dir, tmp_path / "test.jsonl", progress=False, save=False)
    assert again["f1"] == pytest.approx(test["f1"])


def test_label_budget_and_lora(tiny_backbone, tmp_path):
    from lmtune.recipes.finetune import train

    cfg = ner_config(tiny_backbone, tmp_path, **{"data.labeled_size": 30, "peft": "{method: lora, r: 4}",
                                                 "training.epochs": 1})
    result = train(cfg, progress=False, log=lambda m: None)
    assert result.data.summary()["train"] == 30 and len(result.data.unlabeled) == 160 - 24 - 30
    info = __import__("json").loads((result.run_dir / "lmtune_run.json").read_text())
    assert info["peft"]["modules_to_save"] == ["classifier"]
    assert "f1" in result.metrics["test"]


def test_labels_per_class_is_refused_for_tokens(tiny_backbone, tmp_path):
    from lmtune.errors import ConfigError
    from lmtune.recipes.finetune import train

    with pytest.raises(ConfigError, match="labeled_size"):
        train(ner_config(tiny_backbone, tmp_path, **{"data.labels_per_class": 2}), progress=False, log=lambda m: None)


def test_held_out_tags_unseen_in_training_are_reported_not_fatal(tmp_path):
    from lmtune.config import DataConfig
    from lmtune.data import prepare_data

    train = write_jsonl(tmp_path / "train.jsonl", ner_rows(20))
    test = write_jsonl(tmp_path / "test.jsonl", ner_rows(3, seed=1) + [{"tokens": ["the", "x"], "tags": ["O", "B-ORG"]}])
    data = prepare_data(DataConfig(train=str(train), test=str(test), dev_size=0), 0, "token-classification")
    assert len(data.warnings) == 1 and "test.jsonl:4" in data.warnings[0] and "B-ORG" in data.warnings[0]
    assert "B-ORG" not in data.labels


def test_soft_targets_score_first_subtokens_only(ner_task):
    import torch
    from transformers import AutoModelForTokenClassification

    from lmtune.data.examples import TokenExample

    task = ner_task()
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(task.tokenizer.name_or_path, num_labels=5)
    targets, confidence, classes = task.soft_targets(model, [TokenExample(("goods", "the", "nicely"))])
    scored = (targets[0].sum(-1) > 0).tolist()  # [CLS] good ##s the nice ##ly [SEP]
    assert scored == [False, True, False, True, True, False, False] and classes is None
    assert targets[0][1].sum().item() == pytest.approx(1.0)
    assert confidence[0] == pytest.approx(targets[0].max(-1).values[[1, 3, 4]].mean().item())


def test_token_level_self_training(tiny_backbone, tmp_path):
    from lmtune.recipes.finetune import train

    cfg = ner_config(tiny_backbone, tmp_path, **{"data.labeled_size": 30, "method.name": "self-training",
                                                 "method.threshold": 0.5, "training.epochs": 20})
    result = train(cfg, progress=False, log=lambda m: None)
    rounds = __import__("json").loads((result.run_dir / "lmtune_run.json").read_text())["pseudo_label_rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and all(r["pool"] == 106 for r in rounds)
    assert rounds[-1]["pseudo_labels"] > 0 and rounds[-1]["mean_confidence"] >= 0.5
    assert rounds[0]["pseudo_labels"] <= 53  # round 1 of 2: at most half the pool
    assert result.metrics["test"]["f1"] > 0


def test_consistency_is_refused_for_tokens(tiny_backbone, tmp_path):
    from lmtune.errors import ConfigError

    with pytest.raises(ConfigError, match="does not apply to task 'token-classification'"):
        ner_config(tiny_backbone, tmp_path, **{"method.name": "consistency"})


def test_export_and_serve_say_they_take_classification_runs(tmp_path):
    from lmtune.artifacts import RUN_FILE, require_classification, write_json
    from lmtune.errors import ModelError

    write_json(tmp_path / RUN_FILE, {"task": "token-classification"})
    with pytest.raises(ModelError, match="lmtune serve handles classification runs"):
        require_classification(tmp_path, "lmtune serve")
