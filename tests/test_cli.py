"""CLI: commands exist, bad input gives one located line and exit code 2, tracebacks only with --debug."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import sentiment_rows
from lmtune.cli import main
from lmtune.errors import DataError


def cli(*args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code


def test_help_lists_the_commands(capsys):
    assert cli("--help") == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "predict", "quickstart", "validate", "ls"):
        assert command in out


def test_usage_error_exit_2(capsys):
    assert cli("train") == 2
    assert "Missing" in capsys.readouterr().err


def test_ls_lists_registered_components(capsys):
    cli("ls")
    out = capsys.readouterr().out
    assert "classification" in out and "supervised" in out and "auto" in out


def test_data_error_is_one_line_exit_2(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"train": str(tmp_path / "missing.csv")}}))
    assert cli("validate", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "file not found" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_config_error_exit_2(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  builtin: bbc_news\n")
    assert cli("validate", str(cfg), "--set", "training.epoch=3") == 2
    assert "did you mean 'training.epochs'" in capsys.readouterr().err


def test_debug_shows_the_exception(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"train": str(tmp_path / "missing.csv")}}))
    with pytest.raises(DataError):
        main(["--debug", "validate", str(cfg)])


def test_validate_reports_the_data(tmp_path, toy_files, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"train": str(toy_files["train"]), "test_size": 10, "dev_size": 0,
                                            "labels_per_class": 5}}))
    assert cli("validate", str(cfg)) == 0
    out = capsys.readouterr().out
    assert "10 labeled train" in out and "10 test" in out and "60 unlabeled" in out


def test_validate_lists_the_rejected_rows(tmp_path, capsys):
    rows = "text,label\n" + "".join(f"text {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20)) + " ,pos\nfine,\n"
    (tmp_path / "t.csv").write_text(rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"train": str(tmp_path / "t.csv"), "test_size": 0, "dev_size": 0,
                                            "on_bad_rows": "skip"}}))
    assert cli("validate", str(cfg)) == 0
    out = capsys.readouterr().out
    assert "2 rejected" in out
    assert f"rejected {tmp_path / 't.csv'}:22" in out and f"rejected {tmp_path / 't.csv'}:23" in out


def test_train_eval_predict_commands(toy_config, toy_files, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(toy_config))
    assert cli("train", str(cfg), "--set", "training.epochs=2") == 0
    out = capsys.readouterr().out
    assert "run dir:" in out and "macro-F1" in out
    run_dir = toy_config["output_dir"]
    assert cli("eval", run_dir, "--data", str(toy_files["dev"]), "--precision", "fp32") == 0
    assert "accuracy" in capsys.readouterr().out
    pred = tmp_path / "p.jsonl"
    assert cli("predict", run_dir, "--input", str(toy_files["test"]), "--output", str(pred), "--precision", "fp32") == 0
    assert len(pred.read_text().splitlines()) == 30
    assert set(json.loads(pred.read_text().splitlines()[0])) == {"source", "label", "score", "probabilities"}
    # a label the model never saw, in an eval file, is located
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood film,pos\nso so,neutral\n")
    assert cli("eval", run_dir, "--data", str(bad)) == 2
    assert f"{bad}:3" in capsys.readouterr().err


def test_pretrain_command(tiny_backbone, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(r["text"] for r in sentiment_rows(30)) + "\n")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"train": str(corpus), "dev_size": 6},
                                   "model": {"name": str(tiny_backbone), "max_length": 32},
                                   "pretrain": {"eval_tokens": 50}, "training": {"epochs": 1},
                                   "output_dir": str(tmp_path / "pre")}))
    assert cli("pretrain", str(cfg)) == 0
    out = capsys.readouterr().out
    assert "pseudo-perplexity" in out and "--set model.name=" in out


def test_validate_checks_the_backbone_and_max_length(tmp_path, toy_files, tiny_backbone, capsys):
    cfg = tmp_path / "c.yaml"
    raw = {"data": {"train": str(toy_files["train"]), "test_size": 10, "dev_size": 0},
           "model": {"name": str(tiny_backbone), "max_length": 256}}  # the tiny model has 128 positions
    cfg.write_text(yaml.safe_dump(raw))
    assert cli("validate", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "model.max_length 256 is longer than" in err and "128 positions" in err and f"{cfg}:" in err
    cfg.write_text(yaml.safe_dump({**raw, "model": {"name": str(tmp_path / "no-such-model")}}))
    assert cli("validate", str(cfg)) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_version_runs_and_predict_from_text_and_stdin(trained_run, capsys, monkeypatch):
    import io

    assert cli("--version") == 0
    assert capsys.readouterr().out.startswith("lmtune ")
    root = trained_run.run_dir.parent
    assert cli("runs", str(root)) == 0
    out = capsys.readouterr().out
    assert trained_run.run_dir.name in out and "complete" in out and "acc" in out
    assert cli("predict", str(trained_run.run_dir), "--text", "good great film", "--text", "bad awful movie") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(r["label"] in trained_run.data.labels for r in rows)
    monkeypatch.setattr("sys.stdin", io.StringIO("good great film\n\nbad awful movie\n"))
    assert cli("predict", str(trained_run.run_dir), "--input", "-") == 0
    piped = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["label"] for r in piped] == [r["label"] for r in rows]
    assert cli("predict", str(trained_run.run_dir)) == 2  # neither --input nor --text
    assert "give the texts one way" in capsys.readouterr().err
