"""`lmtune data`: inspect, clean, split, augment, label-issues, select and merge on small files
with known answers."""
from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

from conftest import sentiment_rows, write_csv
from lmtune.curation.acquisition import ACQUISITIONS
from lmtune.curation.active_learning import acquire, merge_files, select_file
from lmtune.curation.clean import clean_file
from lmtune.curation.inspect import inspect_data
from lmtune.curation.label_issues import find_label_issues
from lmtune.data.augment import augment_file
from lmtune.data.split import split_file
from lmtune.errors import ConfigError, DataError


def read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_inspect_finds_duplicates_conflicts_near_duplicates_leakage_and_odd_rows(tmp_path, tiny_backbone):
    from lmtune.models import load_tokenizer

    rows = sentiment_rows(10, seed=4) + [
        {"text": "the film was good and the story was great", "label": "pos"},
        {"text": "The film was good, and the story was GREAT!", "label": "neg"},  # same text after normalising
        {"text": "a long plot and a good actor in a good film of the year", "label": "pos"},
        {"text": "a long plot and a good actor in a good film of the year too", "label": "pos"},  # near
        {"text": "12345 !!!", "label": "neg"},
        {"text": "an unlabeled row", "label": ""}]
    train = write_csv(tmp_path / "train.csv", rows)
    dev = write_csv(tmp_path / "dev.csv", [{"text": "the film was good and the story was great", "label": "pos"},
                                           {"text": "something else entirely", "label": "neg"}])
    report = inspect_data(train, others={"dev": dev}, tokenizer=load_tokenizer(str(tiny_backbone)), max_length=8)
    assert report["rows"] == 26 and report["unlabeled_rows"] == 1
    assert report["classes"] == {"pos": 13, "neg": 12}
    dup = report["exact_duplicates"]
    assert dup["groups"] == 1 and dup["extra_rows"] == 1 and dup["label_conflicts"] == 1
    assert dup["examples"] == [[f"{train}:22", f"{train}:23"]]
    assert report["near_duplicates"]["pairs"] == 1
    assert report["near_duplicates"]["examples"][0]["sources"] == [f"{train}:24", f"{train}:25"]
    leaks = report["leakage"]
    assert leaks["exact"] == 2 and {tuple(leak["splits"]) for leak in leaks["examples"]} == {("this file", "dev")}
    assert [r["source"] for r in report["odd_rows"]] == [f"{train}:26"]
    assert report["tokens"]["over_max_length"] > 0

    from lmtune.curation.inspect import save_plots

    assert all(p.stat().st_size > 1000 for p in save_plots(report, tmp_path / "plots"))


def test_inspect_cli_writes_report_and_plots(tmp_path, tiny_backbone, capsys):
    from test_cli import cli

    train = write_csv(tmp_path / "t.csv", sentiment_rows(10, seed=1))
    assert cli("data", "inspect", str(train), "--model", str(tiny_backbone)) == 0
    out = tmp_path / "t.csv.inspect"
    assert json.loads((out / "report.json").read_text())["rows"] == 20
    assert (out / "class_balance.png").is_file() and (out / "lengths.png").is_file()
    assert "exact duplicates" in capsys.readouterr().out


def test_clean_normalises_strips_html_masks_pii_and_reports_every_dropped_row(tmp_path):
    rows = [{"text": "<p>Great&nbsp;film</p><br>see it", "label": "pos", "id": "1"},
            {"text": "ｇｏｏｄ\u00a0 movie\u200b  here", "label": "pos", "id": "2"},
            {"text": "Great film see it", "label": "pos", "id": "3"},  # duplicate of row 1 once cleaned
            {"text": "mail me at jo@example.com or +44 20 7946 0958", "label": "neg", "id": "4"},
            {"text": "<div></div>", "label": "neg", "id": "5"},
            {"text": "a dull and boring film that nobody should watch at all", "label": "neg", "id": "6"},
            {"text": "a dull and boring film that nobody should watch at all!!", "label": "neg", "id": "7"}]
    src = write_csv(tmp_path / "raw.csv", rows, columns=("id", "text", "label"))
    report = clean_file(src, tmp_path / "clean.csv", pii=True)
    out = read(tmp_path / "clean.csv")
    assert list(out[0]) == ["id", "text", "label"]  # other columns pass through, in order
    texts = {r["id"]: r["text"] for r in out}
    assert texts["1"] == "Great film see it"
    assert texts["2"] == "good movie here"
    assert texts["4"] == "mail me at [EMAIL] or [PHONE]"
    assert "3" not in texts and "5" not in texts and "7" not in texts  # 7: exact after normalising punctuation
    assert report["rows_in"] == len(out) + report["dropped"] == 7
    dropped = [json.loads(line) for line in open(report["rejects_file"])]
    assert {d["source"]: d["reason"] for d in dropped} == {
        f"{src}:4": f"exact duplicate of {src}:2", f"{src}:8": f"exact duplicate of {src}:7",
        f"{src}:6": "empty after cleaning"}
    near = [{"text": "one two three four five six seven eight nine ten", "label": "a"},
            {"text": "one two three four five six seven eight nine ten eleven", "label": "a"}]
    report = clean_file(write_csv(tmp_path / "n.csv", near), tmp_path / "n.jsonl", near_dedupe=True)
    assert report["rows_out"] == 1 and report["dropped_by_reason"] == {"near duplicate": 1}
    assert json.loads((tmp_path / "n.jsonl").read_text().splitlines()[0])["text"].endswith("ten")


def test_split_is_stratified_seeded_and_keeps_groups_together(tmp_path):
    rows = [{"text": f"text {i}", "label": "a" if i < 70 else "b", "doc": f"d{i // 4}"} for i in range(100)]
    src = write_csv(tmp_path / "all.csv", rows, columns=("text", "label", "doc"))
    report = split_file(src, tmp_path / "s1", dev=0.1, test=0.2, seed=3)
    sizes = {name: s["rows"] for name, s in report["splits"].items()}
    assert sizes == {"train": 70, "dev": 10, "test": 20}
    test_rows = read(tmp_path / "s1" / "test.csv")
    assert sum(r["label"] == "a" for r in test_rows) == 14 and list(test_rows[0]) == ["text", "label", "doc"]
    def texts(d):
        return [sorted(r["text"] for r in read(tmp_path / d / f"{n}.csv")) for n in ("train", "dev", "test")]
    split_file(src, tmp_path / "s2", dev=0.1, test=0.2, seed=3)
    split_file(src, tmp_path / "s3", dev=0.1, test=0.2, seed=4)
    assert texts("s1") == texts("s2") != texts("s3")
    assert sorted(sum(texts("s1"), [])) == sorted(r["text"] for r in rows)  # every row exactly once

    report = split_file(src, tmp_path / "g", dev=0.1, test=0.2, seed=3, group_column="doc")
    where = {}
    for name in report["splits"]:
        for r in read(tmp_path / "g" / f"{name}.csv"):
            where.setdefault(r["doc"], set()).add(name)
    assert all(len(splits) == 1 for splits in where.values())
    assert abs(report["splits"]["test"]["rows"] - 20) <= 4 and abs(report["splits"]["dev"]["rows"] - 10) <= 4
    rows[5]["doc"] = ""
    with pytest.raises(DataError, match="group column 'doc'") as err:
        split_file(write_csv(tmp_path / "bad.csv", rows, columns=("text", "label", "doc")), tmp_path / "b",
                   group_column="doc")
    assert err.value.where.endswith("bad.csv:7")


def test_augment_file_carries_labels_and_marks_copies(tmp_path):
    src = write_csv(tmp_path / "few.csv", sentiment_rows(3, seed=2))
    report = augment_file(src, tmp_path / "aug.csv", "deletion", n=2, options={"rate": 0.3}, progress=False)
    out = read(tmp_path / "aug.csv")
    originals, copies = out[:6], out[6:]
    assert len(copies) == report["augmented_rows"] == 12 and report["unchanged_copies_skipped"] == 0
    by_source = {f"{src}:{i + 2}": r for i, r in enumerate(originals)}
    for copy in copies:
        parent = by_source[copy["augmented_from"]]
        assert copy["label"] == parent["label"] and copy["text"] != parent["text"] and copy["augmenter"] == "deletion"
    with pytest.raises(ConfigError, match="'cutout'"):
        augment_file(src, tmp_path / "x.csv", "cutuot")
    with pytest.raises(ConfigError, match="option 'rat'"):
        augment_file(src, tmp_path / "x.csv", "typo", options={"rat": 0.1})


def test_backtranslation_runs_through_local_seq2seq_models(tmp_path, tiny_backbone):
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from lmtune.data.augment import augment_texts, build_augmenter

    tokenizer = AutoTokenizer.from_pretrained(tiny_backbone)
    for name, seed in (("to-pivot", 0), ("back", 1)):  # tiny random "translators": plumbing, not quality
        torch.manual_seed(seed)
        BartForConditionalGeneration(BartConfig(
            vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
            pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
            decoder_start_token_id=tokenizer.cls_token_id, forced_eos_token_id=None)).save_pretrained(tmp_path / name)
        tokenizer.save_pretrained(tmp_path / name)
    augmenter = build_augmenter("backtranslation", forward=str(tmp_path / "to-pivot"), backward=str(tmp_path / "back"),
                                max_length=12)
    texts = ["the film was good", "a bad and boring plot"]
    once = augment_texts(texts, augmenter, seed=1)
    assert once == augment_texts(texts, augmenter, seed=1) and once != texts
    with pytest.raises(Exception, match="no-such-dir|not found"):
        augment_texts(texts, build_augmenter("backtranslation", forward="./no-such-dir", backward="./x"), 0)


def test_label_issues_ranks_flipped_labels_first(tmp_path, tiny_backbone):
    rows = [{**r, "id": f"r{i}"} for i, r in enumerate(sentiment_rows(40, seed=8))]
    rng = random.Random(0)
    flipped = set(rng.sample(range(len(rows)), 8))
    for i in flipped:
        rows[i]["label"] = "neg" if rows[i]["label"] == "pos" else "pos"
    src = write_csv(tmp_path / "noisy.csv", rows, columns=("id", "text", "label"))
    report = find_label_issues(src, tmp_path / "issues.csv", model=str(tiny_backbone), folds=5, progress=False)
    ranked = read(tmp_path / "issues.csv")
    assert len(ranked) == 80 and report["rows"] == 80
    assert all(r["id"] == f"r{int(r['source'].rsplit(':', 1)[1]) - 2}" for r in ranked)  # other columns kept
    top = [int(r["source"].rsplit(":", 1)[1]) - 2 for r in ranked[:8]]
    assert len(flipped & set(top)) >= 6, (sorted(flipped), top)
    for r in ranked[:8]:
        if int(r["source"].rsplit(":", 1)[1]) - 2 in flipped:
            assert r["suggested_label"] != r["given_label"]
    with pytest.raises(DataError, match="fewer than the 50 cross-validation folds"):
        find_label_issues(src, tmp_path / "x.csv", model=str(tiny_backbone), folds=50, progress=False)


def test_every_acquisition_returns_distinct_pool_rows(trained_run):
    import lmtune

    run = lmtune.load_run(trained_run.run_dir)
    pool = [r["text"] for r in sentiment_rows(15, seed=11)]
    for strategy in ACQUISITIONS.names():
        picked, probs = acquire(run, pool, 7, strategy, labeled=[ex.text for ex in trained_run.data.train],
                                progress=False)
        assert len(set(picked)) == 7 and all(0 <= i < len(pool) for i in picked), strategy
        if strategy == "entropy":
            entropy = -(probs * np.log(probs)).sum(1)
            assert sorted(picked) == sorted(np.argsort(-entropy)[:7].tolist())


def test_select_then_merge_round_trip_and_merge_refuses_bad_labels(trained_run, tmp_path):
    labeled = write_csv(tmp_path / "labeled.csv", sentiment_rows(5, seed=1))
    pool_rows = sentiment_rows(8, seed=12) + sentiment_rows(5, seed=1)[:3]  # 3 rows already labeled
    pool = write_csv(tmp_path / "pool.csv", [{"text": r["text"]} for r in pool_rows], columns=("text",))
    report = select_file(pool, trained_run.run_dir, tmp_path / "todo.csv", budget=5, strategy="margin",
                         labeled_path=labeled, progress=False)
    todo = read(tmp_path / "todo.csv")
    assert report["already_labeled_skipped"] == 3 and len(todo) == 5
    assert all(r["label"] == "" for r in todo) and len({r["text"] for r in todo}) == 5
    with pytest.raises(DataError, match="only|rows not yet labeled"):
        select_file(pool, trained_run.run_dir, tmp_path / "x.csv", budget=50, progress=False)

    with pytest.raises(DataError, match="no label") as err:
        merge_files(tmp_path / "todo.csv", labeled, tmp_path / "merged.csv")
    assert err.value.where == f"{tmp_path / 'todo.csv'}:2"
    truth = {r["text"]: r["label"] for r in pool_rows}
    for r in todo:
        r["label"] = truth[r["text"]]
    todo[2]["label"] = "postive"
    write_csv(tmp_path / "filled.csv", todo, columns=tuple(todo[0]))
    with pytest.raises(DataError, match="did you mean 'pos'") as err:
        merge_files(tmp_path / "filled.csv", labeled, tmp_path / "merged.csv")
    assert err.value.where == f"{tmp_path / 'filled.csv'}:4"
    todo[2]["label"] = truth[todo[2]["text"]]
    write_csv(tmp_path / "filled.csv", todo, columns=tuple(todo[0]))
    report = merge_files(tmp_path / "filled.csv", labeled, tmp_path / "merged.csv")
    merged = read(tmp_path / "merged.csv")
    assert report["added"] == 5 and len(merged) == 15 and list(merged[0]) == ["text", "label"]


def test_data_commands_chain_on_the_command_line(tmp_path, capsys):
    from test_cli import cli

    rows = sentiment_rows(20, seed=3)
    raw = write_csv(tmp_path / "raw.csv", rows + rows[:4])  # 4 duplicates
    assert cli("data", "clean", str(raw), "-o", str(tmp_path / "clean.csv")) == 0
    assert len(read(tmp_path / "clean.csv")) == 40 and '"dropped": 4' in capsys.readouterr().out
    assert cli("data", "split", str(tmp_path / "clean.csv"), "-o", str(tmp_path / "s"), "--dev", "4", "--test", "6") == 0
    assert [len(read(tmp_path / "s" / f"{n}.csv")) for n in ("train", "dev", "test")] == [30, 4, 6]
    assert cli("data", "augment", str(tmp_path / "s" / "train.csv"), "-o", str(tmp_path / "aug.jsonl"),
               "--method", "swap", "--n", "1", "--option", "rate=0.3") == 0
    rows = [json.loads(line) for line in (tmp_path / "aug.jsonl").read_text().splitlines()]
    report = json.loads((tmp_path / "aug.jsonl.report.json").read_text())
    assert len(rows) == 30 + report["augmented_rows"] and all(r["augmenter"] == "swap" for r in rows[30:])
    assert report["augmented_rows"] + report["unchanged_copies_skipped"] == 30  # a swap can restore the text
    assert cli("data", "augment", str(raw), "-o", str(tmp_path / "x.csv"), "--method", "synonyms") == 2
    assert "use 'synonym'" in capsys.readouterr().err
