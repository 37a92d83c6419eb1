"""Task protocol: how one kind of problem turns examples into tensors, builds its model, scores
it and predicts with it. What it reads is its data format (`Task.data`, lmtune.data.formats);
its options (`Config`, the run config's `task_options`) are registered in lmtune.options; both
are torch-free and attached when the task registers."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from ..attention import fuse_attention
from ..config import StrictModel
from ..data.formats import DataFormat


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

    class Config(StrictModel):
        pass

    # metric name -> True when greater is better; the first one is the default selection metric
    metrics: ClassVar[dict[str, bool]] = {"loss": False}
    auto_model: ClassVar[str] = "AutoModel"
    peft_task_type: ClassVar[str | None] = None  # peft's TaskType for this head (SEQ_CLS, TOKEN_CLS, ...)
    data: ClassVar[type[DataFormat]] = DataFormat  # what it reads (lmtune.data.formats), set when it registers
    # each label is its own yes/no (sigmoids, multi-label): pseudo labels are set per label, not one class per row
    independent_labels: ClassVar[bool] = False
    # predict picks the fastest inference engine that keeps the model's answers, measured on held-out
    # texts the run keeps (export/engines.py)
    measures_engines: ClassVar[bool] = False

    def __init__(self, labels: list[str], tokenizer, max_length: int, options: dict | StrictModel | None = None):
        self.labels = labels
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.options = options if isinstance(options, self.Config) else self.Config.model_validate(options or {})
        self.warnings: list[str] = []  # what encoding noticed (cut examples, ...), for the run's log

    # ---------------------------------------------------------------- model

    def adjust_after_training(self, model, data, seed: int, log, **predict_options) -> dict:
        """After training, before saving: adjust the model in place (classification: its
        temperature and the class shares it predicts with) from the data bundle's splits; returns
        records for the run file ({} where nothing was done)."""
        return {}

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

    def predict(self, model, inputs: list, *, batch_size: int, progress: bool, precision: str = "fp32") -> list[dict]:
        """One record per input."""
        raise NotImplementedError


def output_layer(model, num_labels: int) -> torch.nn.Linear:
    """The last Linear that maps features to the labels (BERT's `classifier`, RoBERTa's `out_proj`, ...)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not layers:
        raise ValueError("no output layer with one unit per label found in the model")
    return layers[-1]
