"""Supervised fine-tuning measured on labeled examples it did not learn from: for each fold of
the labeled examples, a copy of the task model is fine-tuned on the other folds exactly as a
supervised run would be (same options, head started from those folds' examples), in memory,
and predicts the held-out fold. Method auto compares a semi-supervised route with it."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..evaluation.predict import predict_logits
from ..methods import build_method
from ..methods.base import Setup
from .common import optimizer_steps, training_arguments
from .trainer import MethodTrainer


def supervised_held_out(model, task, cfg: RunConfig, examples: list, splits: list[tuple[np.ndarray, np.ndarray]],
                        fresh: list[str], log) -> np.ndarray:
    """The class each labeled example gets from the supervised model trained without its fold
    (-1 where no fold holds it out). `model`: the task model as built, before training;
    `fresh`: its newly initialised weights (the head, started again from each fold's examples)."""
    cfg = cfg.model_copy(update={
        "method": type(cfg.method).model_validate({"name": "supervised"}),
        "training": cfg.training.model_copy(update={"report_to": [], "time_budget": None})})
    predicted = np.full(len(examples), -1)
    for k, (train, held) in enumerate(splits, 1):
        part = [examples[i] for i in train]
        log(f"auto: supervised on fold {k} of {len(splits)} ({len(part)} labeled examples), "
            f"scored on its {len(held)} held-out ones")
        fitted = _fit(copy.deepcopy(model), task, cfg, part, fresh)
        logits = predict_logits(fitted, task.tokenizer, [examples[i].text for i in held],
                                max_length=task.max_length, progress=False)
        predicted[held] = logits.argmax(1)
        del fitted
    return predicted


def _fit(model, task, cfg: RunConfig, examples: list, fresh: list[str]):
    quiet = lambda message: None  # noqa: E731 - the caller logs one line per fold
    dataset = task.encode(examples)
    if fresh:
        task.init_head(model, dataset, cfg.model.head_init, fresh)
    method = build_method(cfg, task)
    method.setup(Setup(model, cfg.model.name, [], examples, dataset, optimizer_steps(cfg, len(dataset)), quiet))
    with tempfile.TemporaryDirectory(prefix="lmtune-fold-") as scratch:
        args, _, _ = training_arguments(cfg, Path(scratch), len(dataset), select=None, progress=False, log=quiet,
                                        save_strategy="no", eval_strategy="no", logging_strategy="no")
        MethodTrainer(model=model, args=args, train_dataset=task.training_dataset(dataset),
                      data_collator=task.collator(), processing_class=task.tokenizer, method=method,
                      layer_lr_decay=cfg.training.layer_lr_decay).train()
    return model
