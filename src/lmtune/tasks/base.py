"""Task protocol: how one kind of problem turns examples into tensors, builds its model and scores it."""
from __future__ import annotations

from typing import Any, ClassVar

import torch


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


class Task:
    """Base class; subclasses register with @register_task(name)."""

    # metric name -> True when greater is better; the first one is the default selection metric
    metrics: ClassVar[dict[str, bool]] = {"loss": False}
    auto_model: ClassVar[str] = "AutoModel"
    peft_task_type: ClassVar[str | None] = None  # peft's TaskType for this head (SEQ_CLS, TOKEN_CLS, ...)

    def __init__(self, labels: list[str], tokenizer, max_length: int):
        self.labels = labels
        self.tokenizer = tokenizer
        self.max_length = max_length

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        """Load the backbone with this task's head (`config_overrides` set keys of its config).
        Returns (model, names of newly initialised weights)."""
        raise NotImplementedError

    def head_modules(self, model) -> list[str]:
        """Top-level names of the head's modules: fully trained and saved next to peft adapters."""
        return []

    def encode(self, examples) -> EncodedDataset:
        raise NotImplementedError

    def collator(self):
        raise NotImplementedError

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        raise NotImplementedError
