"""Shared fixtures: a tiny random BERT with a word-level vocab, and small data files.

Everything is offline and seeded: the model is built from a config (hidden 32, 2 layers) and
saved to a temp dir that lmtune loads like any local backbone.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# after the variables above: huggingface_hub reads HF_HUB_OFFLINE once, when first imported
from transformers import TrainerCallback  # noqa: E402

POSITIVE = "good great excellent wonderful superb happy love fine nice best".split()
NEGATIVE = "bad awful terrible horrible poor sad hate worst boring ugly".split()
NEUTRAL = "the a movie film plot actor story scene was is it this and of very quite".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + POSITIVE + NEGATIVE + NEUTRAL + ["##s", "##ly"]


@pytest.fixture(scope="session", autouse=True)
def encode_cache(tmp_path_factory) -> Path:
    """Tests never touch the user's ~/.cache; within a session the cache is shared like a user's."""
    path = tmp_path_factory.mktemp("encode-cache")
    os.environ["LMTUNE_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    path = tmp_path_factory.mktemp("tiny-bert")
    # transformers 5: the tokenizer takes the vocab itself (a `vocab_file=` argument is ignored)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(VOCAB)}, do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # learns in a few steps
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


class Kill(TrainerCallback):
    """Simulates a killed process once training reaches `at_step`."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt


class Recorder(TrainerCallback):
    """Keeps every log the Trainer writes (losses, the methods' own scalars)."""

    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))

    def series(self, key):
        return [entry[key] for entry in self.logs if key in entry]


def sentiment_rows(n_per_class: int, seed: int = 0) -> list[dict]:
    """A separable toy task: positive words vs negative words among neutral filler."""
    rng = random.Random(seed)
    rows = []
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        for _ in range(n_per_class):
            text = rng.sample(NEUTRAL, 4) + rng.sample(words, 2)
            rng.shuffle(text)
            rows.append({"text": " ".join(text), "label": label})
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[dict], columns=("text", "label")) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def toy_files(tmp_path) -> dict[str, Path]:
    return {
        "train": write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=1)),
        "dev": write_csv(tmp_path / "dev.csv", sentiment_rows(10, seed=2)),
        "test": write_jsonl(tmp_path / "test.jsonl", sentiment_rows(15, seed=3)),
    }


@pytest.fixture
def toy_config(tiny_backbone, toy_files, tmp_path):
    """A raw config dict for a fast run on the toy task."""
    return {
        "data": {"train": str(toy_files["train"]), "dev": str(toy_files["dev"]), "test": str(toy_files["test"])},
        "model": {"name": str(tiny_backbone), "max_length": 32},
        "training": {"epochs": 4, "batch_size": 8, "learning_rate": 2e-3, "logging_steps": 5,
                     "early_stopping_patience": None},
        "output_dir": str(tmp_path / "run"),
        "seed": 7,
    }


@pytest.fixture(scope="session")
def trained_run(tiny_backbone, tmp_path_factory):
    """One finished run on the toy task (train + test files, no dev), shared by read-only tests."""
    import lmtune
    from lmtune.recipes.validation import validate_config

    return lmtune.train(validate_config(toy_run_config(tiny_backbone, tmp_path_factory.mktemp("trained"))),
                        progress=False, log=lambda m: None)


def toy_run_config(backbone: Path, tmp: Path, **sections) -> dict:
    """Train and test files (no dev) in `tmp`, a run dir there; `sections` replace whole sections."""
    return {"data": {"train": str(write_csv(tmp / "train.csv", sentiment_rows(40, seed=1))),
                     "test": str(write_csv(tmp / "test.csv", sentiment_rows(20, seed=3))), "dev_size": 0},
            "model": {"name": str(backbone), "max_length": 32},
            "training": {"epochs": 4, "batch_size": 8, "learning_rate": 2e-3, "early_stopping_patience": None},
            "output_dir": str(tmp / "run"), "seed": 7, **sections}
