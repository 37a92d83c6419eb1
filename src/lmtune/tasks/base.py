"""Task protocol: how one kind of problem reads its data, turns examples into tensors, builds
its model, scores it and predicts with it. Each task carries its options as a nested pydantic
`Config` (the run config's `task_options`)."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..attention import fuse_attention
from ..config import StrictModel


class EncodedDataset(torch.utils.data.Dataset):
    """Tokenized features, one dict per example; tokenized once, padded per batch by the collator."""

    def __init__(self, features: list[dict[str, Any]]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.features[index]

    def by_length(self) -> "EncodedDataset":
        """The same features, shortest first: evaluation batches then pad little (metrics do not
        depend on the order)."""
        return EncodedDataset(sorted(self.features, key=lambda f: len(f["input_ids"])))


@dataclass
class ReadOutcome:
    """What a task's reader found in one file: usable examples, rejected rows, warnings."""
    examples: list
    rejects: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] | None = None  # "file:line" per example, where the reader keeps it


class Task:
    """Base class; subclasses register with @register_task(name)."""

    class Config(StrictModel):
        pass

    # metric name -> True when greater is better; the first one is the default selection metric
    metrics: ClassVar[dict[str, bool]] = {"loss": False}
    auto_model: ClassVar[str] = "AutoModel"
    peft_task_type: ClassVar[str | None] = None  # peft's TaskType for this head (SEQ_CLS, TOKEN_CLS, ...)
    stratified: ClassVar[bool] = False  # splits keep the class proportions (one label per example)

    def __init__(self, labels: list[str], tokenizer, max_length: int, options: dict | StrictModel | None = None):
        self.labels = labels
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.options = options if isinstance(options, self.Config) else self.Config.model_validate(options or {})
        self.warnings: list[str] = []  # what encoding noticed (cut examples, ...), for the run's log

    # ---------------------------------------------------------------- data (before any model exists)

    @classmethod
    def read(cls, path: str, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        """Examples of one file (data_cfg: the run's DataConfig; options: this task's Config)."""
        raise NotImplementedError

    @classmethod
    def label_set(cls, examples: list) -> list[str]:
        """The labels the model predicts, from the training pool."""
        return []

    @classmethod
    def check_splits(cls, pool: list, held_out: dict[str, list], labels: list[str], where: str) -> list[str] | None:
        """Stop with a located error when the data cannot train this task; returns warnings."""

    @classmethod
    def unlabeled_example(cls, text: str, source: str):
        """A line of raw text (data.unlabeled) as an unlabeled example of this task."""
        raise NotImplementedError

    @staticmethod
    def strip_label(example):
        """The example without its label: labeled pool rows left over by a label budget."""
        return example

    @classmethod
    def take_labeled(cls, pool: list, n: int, seed: int) -> tuple[list, list]:
        """`n` labeled examples drawn at random (seeded); the rest, unlabeled."""
        if n >= len(pool):
            return list(pool), []
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        keep = set(order[:n])
        return ([ex for i, ex in enumerate(pool) if i in keep],
                [cls.strip_label(ex) for i, ex in enumerate(pool) if i not in keep])

    # ---------------------------------------------------------------- model

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        """Load the backbone with this task's head (`config_overrides` set keys of its config).
        Returns (model, names of newly initialised weights)."""
        raise NotImplementedError

    def _load_with_label_head(self, source: str, revision: str | None, **config_overrides):
        """The auto class of this task with one output per label; a head of another size is replaced."""
        import transformers

        model, info = getattr(transformers, self.auto_model).from_pretrained(
            source, revision=revision, num_labels=len(self.labels), id2label=dict(enumerate(self.labels)),
            label2id={lb: i for i, lb in enumerate(self.labels)}, output_loading_info=True,
            ignore_mismatched_sizes=True, **config_overrides)
        fuse_attention(model)
        fresh = sorted(set(info.get("missing_keys", [])) | {k for k, *_ in info.get("mismatched_keys", [])})
        return model, fresh

    def head_modules(self, model) -> list[str]:
        """Top-level names of the head's modules: fully trained and saved next to peft adapters."""
        if not self.labels:
            return []
        layer = output_layer(model, len(self.labels))
        return [next(name.split(".")[0] for name, module in model.named_modules() if module is layer)]

    def init_head(self, model, train_dataset, head_init: str, fresh: list[str]) -> str | None:
        """Initialise a new head from the labeled data before training (`fresh`: the names of the
        newly initialised weights); returns what was done, for the log."""
        return None

    def encode(self, examples) -> EncodedDataset:
        raise NotImplementedError

    def soft_targets(self, model, pool: list) -> tuple[list[torch.Tensor], "np.ndarray", "np.ndarray | None"]:
        """The model's predictions on the unlabeled pool, one per row of `encode(pool)`: its
        probabilities ([C], or [L, C] with zero rows where no prediction is scored), its
        confidence, and its predicted class (None when a row has no single class). Self-training
        learns from these."""
        raise NotImplementedError(f"{type(self).__name__} gives no predictions to learn from")

    def training_dataset(self, encoded: EncodedDataset) -> EncodedDataset:
        """The encoded training examples as the trainer draws them (generation: packed blocks)."""
        return encoded

    def collator(self):
        raise NotImplementedError

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        """Selection metrics from the Trainer's dev predictions (a task that selects on the dev
        loss alone sets this to None: no predictions are gathered)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- after training

    def evaluate(self, model, examples: list, *, batch_size: int, progress: bool, desc: str,
                 precision: str = "fp32") -> dict:
        """Metrics of `model` on labeled examples."""
        raise NotImplementedError

    def score_held_out(self, model, data, cfg, precision, progress: bool, log, run_dir) -> tuple[dict, dict]:
        """Metrics on dev and test -> ({split: metrics}, extra records for the run file)."""
        metrics = {}
        for split, examples in (("dev", data.dev), ("test", data.test)):
            if examples:
                metrics[split] = self.evaluate(model, examples, batch_size=cfg.training.eval_batch_size,
                                               progress=progress, desc=f"evaluate {split}", precision=precision.precision)
        return metrics, {}

    def read_inputs(self, path: str, on_bad_rows: str, data_cfg: dict) -> ReadOutcome:
        """Inputs to predict from a file (`data_cfg`: the run's data section, for column names)."""
        raise NotImplementedError

    def predict(self, model, inputs: list, *, batch_size: int, progress: bool, precision: str = "fp32") -> list[dict]:
        """One record per input."""
        raise NotImplementedError


def output_layer(model, num_labels: int) -> torch.nn.Linear:
    """The last Linear that maps features to the labels (BERT's `classifier`, RoBERTa's `out_proj`, ...)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not layers:
        raise ValueError("no output layer with one unit per label found in the model")
    return layers[-1]
