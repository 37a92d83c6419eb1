"""Supervised fine-tuning measured on labeled examples it did not learn from: for each fold of
the labeled examples, a copy of the task model is fine-tuned on the other folds exactly as a
supervised run would be (same options, head started from those folds' examples), in memory,
and predicts the held-out fold. Method auto compares a semi-supervised route with it."""
from __future__ import annotations

import copy

import numpy as np

from ..config import RunConfig
from ..evaluation.predict import predict_logits
from ..methods import build_method
from ..tasks.pooling import add_mean_pooling
from .contrastive import contrastive_stage
from .freezing import apply_freezing
from .in_memory import fit_in_memory, quiet


def supervised_held_out(model, task, cfg: RunConfig, examples: list, splits: list[tuple[np.ndarray, np.ndarray]],
                        fresh: list[str], log, pool_texts: list[str] = ()) -> tuple[np.ndarray, np.ndarray | None]:
    """The class each labeled example gets from the supervised model trained without its fold,
    as `cfg` trains it (its pooling, contrastive stage and steps; -1 where no fold holds it
    out), and the classes' shares among that model's answers on `pool_texts`, mean over the
    folds (None without texts). `model`: the task model as built, before training; `fresh`: its
    newly initialised weights (the head, started again from each fold's examples)."""
    cfg = cfg.model_copy(update={"method": type(cfg.method).model_validate({"name": "supervised"})})
    predicted, shares = np.full(len(examples), -1), []
    for k, (train, held) in enumerate(splits, 1):
        part = [examples[i] for i in train]
        log(f"auto: supervised on fold {k} of {len(splits)} ({len(part)} labeled examples), "
            f"scored on its {len(held)} held-out ones" + (f" and {len(pool_texts)} pool texts" if pool_texts else ""))
        fitted = _fit(copy.deepcopy(model), task, cfg, part, fresh)
        texts = [examples[i].text for i in held] + list(pool_texts)
        answers = predict_logits(fitted, task.tokenizer, texts, max_length=task.max_length, progress=False).argmax(1)
        predicted[held] = answers[:len(held)]
        if pool_texts:
            shares.append(np.bincount(answers[len(held):], minlength=len(task.labels)) / len(pool_texts))
        del fitted
    return predicted, (np.mean(shares, 0) if shares else None)


def _fit(model, task, cfg: RunConfig, examples: list, fresh: list[str]):
    """A copy trained as a supervised run would train it: the head over the mean of the tokens
    where model.pooling says so, started from these examples, the contrastive stage where
    configured, then the supervised loss on what training.freeze leaves trainable."""
    if cfg.model.pooling == "mean":
        add_mean_pooling(model)
    dataset = task.encode(examples)
    if fresh:
        task.init_head(model, dataset, cfg.model.head_init, fresh)
    contrastive_stage(model, task, cfg, examples, dataset, quiet)
    apply_freezing(model, cfg.training.freeze)
    return fit_in_memory(model, task, cfg, build_method(cfg, task), examples, dataset)
