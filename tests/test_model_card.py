"""The model card (README.md) of a run dir, kept true by eval; `lmtune push`."""
from __future__ import annotations

import shutil

import pytest
import yaml

import lmtune
from conftest import sentiment_rows, write_csv
from lmtune.api import PUSH_IGNORE, push
from lmtune.errors import ModelError
from lmtune.evaluation.model_card import CARD_FILE


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def test_every_run_has_a_card_with_its_labels_data_and_test_metrics(trained_run):
    card = (trained_run.run_dir / CARD_FILE).read_text(encoding="utf-8")
    meta = front_matter(card)
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "transformers"
    accuracy = trained_run.metrics["test"]["accuracy"]
    result = meta["model-index"][0]["results"][0]  # the run's own test split comes first (other tests may add evals)
    assert result["dataset"]["name"].endswith("test.csv")  # the run's own test file
    assert {"type": "accuracy", "value": round(accuracy, 4)} in result["metrics"]
    assert "`neg`" in card and "`pos`" in card and f"accuracy {accuracy:.4f}" in card
    assert "- sizes: train 80" in card and "trained on 80 labeled examples" in card


def test_eval_adds_its_file_to_the_card(trained_run, tmp_path):
    run_dir = tmp_path / "copy"
    shutil.copytree(trained_run.run_dir, run_dir)
    data = write_csv(tmp_path / "fresh.csv", sentiment_rows(6, seed=9))
    metrics = lmtune.evaluate(run_dir, data, progress=False)
    card = (run_dir / CARD_FILE).read_text(encoding="utf-8")
    names = [r["dataset"]["name"] for r in front_matter(card)["model-index"][0]["results"]]
    assert names[0].endswith("test.csv") and str(data) in names[1:]
    assert f"accuracy {metrics['accuracy']:.4f}" in card


class FakeHub:
    calls: list = []

    def __init__(self, token=None, endpoint=None):
        pass

    def create_repo(self, repo, private, exist_ok):
        FakeHub.calls.append(("create", repo, private))

    def upload_folder(self, folder_path, repo_id, ignore_patterns, commit_message):
        FakeHub.calls.append(("upload", folder_path, repo_id, tuple(ignore_patterns)))
        return type("Commit", (), {"commit_url": f"https://hub.example/{repo_id}/commit/1"})()


def test_push_uploads_the_run_with_its_card_and_without_checkpoints(trained_run, monkeypatch):
    import huggingface_hub

    FakeHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    url = push(trained_run.run_dir, "me/toy")
    assert url == "https://hub.example/me/toy/commit/1"
    assert FakeHub.calls[0] == ("create", "me/toy", True)
    _, folder, repo, ignored = FakeHub.calls[1]
    assert folder == str(trained_run.run_dir) and "checkpoints/*" in ignored and ignored == tuple(PUSH_IGNORE)


def test_push_without_a_reachable_hub_fails_clearly(trained_run):
    with pytest.raises(ModelError, match="could not push") as caught:
        push(trained_run.run_dir, "me/toy", token="hf_fake", endpoint="http://127.0.0.1:9")
    assert "push again once it is reachable" in caught.value.fix


def test_training_logs_to_a_local_mlflow_store(toy_config, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")  # the tracking extra; CI installs it from the lock
    from lmtune.recipes.validation import validate_config
    from lmtune.training import common

    for name, value in (("MLFLOW_TRACKING_URI", ""), ("MLFLOW_ALLOW_FILE_STORE", "true"),
                        ("MLFLOW_EXPERIMENT_NAME", "lmtune")):
        monkeypatch.setenv(name, value)  # restored after the test
    monkeypatch.setattr(common, "_DEFAULT_STORE", [""])
    toy_config["method"] = {"name": "supervised"}
    toy_config["training"].update(epochs=2, report_to=["mlflow"], logging_steps=2)
    messages = []
    lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    store = tmp_path / "mlruns"
    assert any(f"mlflow: logging to {store}" in m for m in messages)
    losses = list(store.glob("*/*/metrics/loss"))
    assert losses and losses[0].read_text().strip()  # the Trainer's training loss, logged per logging step


def test_an_unknown_tracker_is_refused(toy_config):
    from lmtune.recipes.validation import validate_config

    toy_config["training"]["report_to"] = ["tensorbord"]
    with pytest.raises(Exception, match="unknown tracker 'tensorbord'"):
        validate_config(toy_config)
