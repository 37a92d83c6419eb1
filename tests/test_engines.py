"""The inference engine a run predicts with: measured once per machine on the held-out texts the
run kept, the fastest that keeps PyTorch fp32's answers chosen, cached, and measured again on
another machine; an engine that changes answers is never chosen however fast it is."""
from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import lmtune
from lmtune.export import engines
from lmtune.loading import inference_plan


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A private copy of the shared finished run (engine records are written into a run dir)."""
    path = tmp_path / "run"
    shutil.copytree(trained_run.run_dir, path)
    (path / engines.ENGINES_DIR / engines.CHOICES_FILE).unlink(missing_ok=True)
    return path


def test_training_keeps_held_out_texts_for_measuring_engines(trained_run):
    texts, labels = engines.check_texts(trained_run.run_dir / engines.ENGINES_DIR)
    assert len(texts) == len(labels) == 40 and set(labels) == {0, 1}


def test_the_fastest_safe_engine_is_chosen_recorded_and_reused(run_copy):
    log = []
    run = lmtune.load_run(run_copy)
    plan = inference_plan(run, log=log.append)
    record = engines.recorded(run_copy / engines.ENGINES_DIR)
    rows = record["engines"]
    assert {"torch-fp32", "torch-int8", "onnx-fp32", "onnx-int8"} <= set(rows), rows
    safe = [n for n, r in rows.items() if r.get("safe")]
    assert record["engine"] == max(safe, key=lambda n: rows[n]["docs_per_s"])
    assert plan.description.startswith(record["engine"]) and any("measuring the inference engines" in m for m in log)
    kept = {p.name for p in (run_copy / engines.ENGINES_DIR).glob("*.onnx")}
    assert kept == ({engines.ONNX_FILES[record["engine"]]} if record["engine"] in engines.ONNX_FILES else set())
    # the answers are PyTorch fp32's
    texts = ["good great happy film", "bad awful boring plot", "the movie was fine and nice"]
    fp32 = lmtune.predict(run, texts, quantize="none", precision="fp32", progress=False)
    again = []
    auto = lmtune.predict(run, texts, progress=False, log=again.append)
    assert [r["label"] for r in auto] == [r["label"] for r in fp32]
    assert not any("measuring" in m for m in again)  # measured once for this machine


def test_another_machine_measures_again(run_copy, monkeypatch):
    run = lmtune.load_run(run_copy)
    inference_plan(run)
    monkeypatch.setattr(engines, "machine_key", lambda precision: "another CPU")
    log = []
    inference_plan(run, log=log.append)
    choices = json.loads((run_copy / engines.ENGINES_DIR / engines.CHOICES_FILE).read_text())
    assert len(choices) == 2 and "another CPU" in choices and any("measuring" in m for m in log)


def test_an_engine_that_changes_answers_is_never_chosen(run_copy, monkeypatch):
    run = lmtune.load_run(run_copy)
    real_build = engines.build

    class Flipped(torch.nn.Module):
        """Instant and wrong: every logit row reversed."""
        def __init__(self, config):
            super().__init__()
            self.config = config

        def forward(self, **batch):
            logits = torch.zeros(batch["input_ids"].shape[0], self.config.num_labels)
            logits[:, 0] = torch.arange(batch["input_ids"].shape[0]) % 2 * 5.0
            return SimpleNamespace(logits=logits)

    def build(name, model, folder):
        if name == "torch-int8":
            return engines.Engine(name, Flipped(model.config), "fp32")
        return real_build(name, model, folder)

    monkeypatch.setattr(engines, "build", build)
    monkeypatch.setattr(engines, "candidates", lambda precision: ["torch-fp32", "torch-int8"])
    record = engines.choose(run.model, lambda m, texts, p: lmtune.loading.task_of(run).proba(m, texts, progress=False),
                            *engines.check_texts(run_copy / engines.ENGINES_DIR), run_copy / engines.ENGINES_DIR,
                            lambda m: None)
    flipped = record["engines"]["torch-int8"]
    assert flipped["docs_per_s"] > record["engines"]["torch-fp32"]["docs_per_s"] and not flipped["safe"]
    assert record["engine"] == "torch-fp32"


def test_explicit_settings_and_old_runs_keep_the_int8_rule(run_copy):
    run = lmtune.load_run(run_copy)
    assert "forced" in inference_plan(run, "none", precision="fp32").description
    (run_copy / engines.ENGINES_DIR / engines.TEXTS_FILE).unlink()  # a run trained before engines were measured
    plan = inference_plan(run)
    assert not (run_copy / engines.ENGINES_DIR / engines.CHOICES_FILE).exists()
    assert "int8" in plan.description or "fp32" in plan.description


def test_onnx_engines_give_pytorchs_probabilities(run_copy):
    run = lmtune.load_run(run_copy)
    task = lmtune.loading.task_of(run)
    texts, _ = engines.check_texts(run_copy / engines.ENGINES_DIR)
    reference = task.proba(run.model, texts, progress=False)
    onnx = engines.build("onnx-fp32", run.model, run_copy / engines.ENGINES_DIR)
    assert np.abs(task.proba(onnx.model, texts, progress=False) - reference).max() < 1e-4
