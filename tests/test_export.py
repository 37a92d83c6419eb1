"""`lmtune export`: each format round-trips, is checked against the original, and refuses what it cannot take."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import lmtune
from lmtune import artifacts as art
from lmtune.errors import ConfigError, ModelError
from lmtune.evaluation.inference import int8_copy
from lmtune.evaluation.predict import predict_proba
from lmtune.export.formats import Int8
from lmtune.recipes.export import export


def probs_of(run_dir, texts):
    run = lmtune.load_run(run_dir)
    return predict_proba(run.model, run.tokenizer, texts, max_length=32, progress=False)


@pytest.mark.parametrize("fmt", ["bf16", "int8", "onnx"])
def test_export_round_trip_and_report(trained_run, tmp_path, fmt):
    out = tmp_path / fmt
    report = export(trained_run.run_dir, out, fmt)
    texts = [ex.text for ex in trained_run.data.test]
    original = probs_of(trained_run.run_dir, texts)
    exported = probs_of(out, texts)
    tolerance = {"bf16": 0.05, "int8": 0.05, "onnx": 1e-4}[fmt]
    assert np.abs(exported - original).max() < tolerance
    info = art.read_json(out / art.RUN_FILE)
    assert info["export"] == {"format": fmt, "source": str(trained_run.run_dir)} and "int8_check" not in info
    assert report == art.read_json(out / "export.json")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700
    assert all(f.stat().st_mode & 0o777 == 0o666 & ~umask for f in out.iterdir() if f.is_file())
    assert report["checked_texts"] == 40
    assert report["accuracy"]["original"] == pytest.approx(trained_run.metrics["test"]["accuracy"])
    assert abs(report["accuracy"]["export"] - report["accuracy"]["original"]) <= 0.05
    assert report["texts_per_s"]["export"] > 0
    flips = int((exported.argmax(-1) != original.argmax(-1)).sum())
    assert report["flipped_labels"] == flips and report["label_agreement"] == pytest.approx(1 - flips / 40, abs=1e-4)
    assert report["max_probability_change"] == pytest.approx(float(np.abs(exported - original).max()), abs=2e-3)
    if fmt in ("bf16", "int8"):
        assert report["size_mb"]["export"] < 0.75 * report["size_mb"]["original"]
    rows = lmtune.predict(out, texts[:3], progress=False)  # the export is a run dir for predict too
    assert [r["label"] for r in rows] == [trained_run.data.labels[i] for i in exported[:3].argmax(-1)]
    if fmt == "onnx":  # quantizing an ONNX graph is not something predict does: said, not ignored
        with pytest.raises(ConfigError, match="ONNX export"):
            lmtune.predict(out, texts[:3], progress=False, quantize="int8")


def test_int8_export_loads_exactly_what_was_quantized(trained_run, tmp_path):
    export(trained_run.run_dir, tmp_path / "q", "int8")
    run, loaded = lmtune.load_run(trained_run.run_dir), lmtune.load_run(tmp_path / "q")
    batch = {"input_ids": torch.tensor([[2, 5, 6, 30, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad():
        assert torch.equal(int8_copy(run.model)(**batch).logits, loaded.model(**batch).logits)


def test_export_refusals(trained_run, tmp_path):
    with pytest.raises(ConfigError, match="int8"):
        export(trained_run.run_dir, tmp_path / "x", "int9")
    export(trained_run.run_dir, tmp_path / "b", "bf16")
    with pytest.raises(ConfigError, match="already exists"):
        export(trained_run.run_dir, tmp_path / "b", "bf16")
    export(trained_run.run_dir, tmp_path / "b", "bf16", overwrite=True)
    with pytest.raises(ModelError, match="already an export"):
        export(tmp_path / "b", tmp_path / "c", "int8")
    with pytest.raises(ModelError, match="no torch.nn.Linear"):
        Int8().write(torch.nn.Sequential(torch.nn.Embedding(3, 2)), tmp_path)
    assert not list(tmp_path.glob(".*staging*")), "a failed export leaves no staging directory behind"


def test_overwrite_replaces_only_what_lmtune_wrote(trained_run, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("precious")
    with pytest.raises(ConfigError, match="not an lmtune export directory") as err:
        export(trained_run.run_dir, victim, "bf16", overwrite=True)
    assert "notes.txt" in str(err.value)
    assert (victim / "notes.txt").read_text() == "precious" and not list(tmp_path.glob(".*staging*"))
    with pytest.raises(ConfigError, match="is the run being exported"):
        export(trained_run.run_dir, trained_run.run_dir, "bf16", overwrite=True)
    assert (trained_run.run_dir / art.RUN_FILE).is_file()


def test_cli_export(trained_run, tmp_path):
    from typer.testing import CliRunner

    from lmtune.cli import app

    result = CliRunner().invoke(app, ["export", str(trained_run.run_dir), "-o", str(tmp_path / "o"), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert "size on disk" in result.output and "accuracy on 40 held-out texts" in result.output
    assert (tmp_path / "o" / "model.onnx").is_file()
