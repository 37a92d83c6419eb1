"""The class shares a classifier predicts with (task_options.class_prior).

A few labels per class are balanced where the data is not (4 per class of a corpus that is
mostly ham), and a model trained on them predicts each class about as often as it saw it.
Where the real shares are known (given) or estimated (pool: EM over the model's own
predictions of the unlabeled pool, Saerens, Latinne & Decaestecker 2002) and differ enough
from the labeled examples', the output layer's bias moves by log(share / labeled share): Bayes'
rule for a change of prior. The saved model carries the shift, so predict, eval, export and
serve agree with the scores. The pool estimate needs a calibrated model; one trained on a few
labels seldom is, which is why it is not the default (BENCHMARKS.md).
"""
from __future__ import annotations

import numpy as np
import torch

# Total variation between the labeled and the estimated pool shares below which the labeled
# shares stay: a balanced corpus keeps its model as trained.
MIN_SHIFT = 0.1
POOL_TEXTS = 2000  # enough to estimate a few shares; a larger pool is sampled
EM_ITERATIONS = 200
FLOOR = 1e-3  # no class's share goes to zero: its logit would go to minus infinity


def pool_shares(probs: np.ndarray, labeled: np.ndarray, iterations: int = EM_ITERATIONS,
                tol: float = 1e-6) -> tuple[np.ndarray, int]:
    """The pool's class shares that best explain `probs` (the model's class probabilities per
    pool text, trained with class shares `labeled`), and the EM iterations taken."""
    labeled = np.clip(labeled, FLOOR, None)
    shares = labeled.copy()
    for step in range(1, iterations + 1):
        adjusted = probs * (shares / labeled)
        adjusted /= adjusted.sum(axis=1, keepdims=True)
        new = np.clip(adjusted.mean(axis=0), FLOOR, None)
        new /= new.sum()
        if np.abs(new - shares).max() < tol:
            return new, step
        shares = new
    return shares, iterations


def class_shares(classes, n_labels: int) -> np.ndarray:
    """Each label's share of `classes` (label ids)."""
    return np.bincount(classes, minlength=n_labels) / max(1, len(classes))


def shift(before: np.ndarray, after: np.ndarray) -> float:
    """Total variation distance between two sets of class shares."""
    return 0.5 * float(np.abs(after - before).sum())


@torch.no_grad()
def shift_bias(layer: torch.nn.Linear, labeled: np.ndarray, pool: np.ndarray) -> None:
    delta = np.log(np.clip(pool, FLOOR, None)) - np.log(np.clip(labeled, FLOOR, None))
    layer.bias += torch.as_tensor(delta, dtype=layer.bias.dtype, device=layer.bias.device)


def check_shares(given: dict[str, float], labels: list[str]) -> None:
    """task_options.class_prior {label: share} names every label of the data, and no other."""
    from ..errors import ConfigError

    unknown, missing = sorted(set(given) - set(labels)), [name for name in labels if name not in given]
    if unknown or missing:
        raise ConfigError("task_options.class_prior " + "; ".join(
            ([f"names labels the data does not have: {', '.join(unknown)}"] if unknown else []) +
            ([f"gives no share for {', '.join(missing)}"] if missing else [])),
            fix=f"give one positive share per label: {', '.join(labels)} (they are normalised to sum to 1).")


def adapt_to_shares(model, labels: list[str], labeled_classes: list[int], given: dict[str, float], log,
                    trained: np.ndarray | None = None) -> dict:
    """Shift the output layer to shares the user gave (task_options.class_prior: {label: share});
    `trained`: the shares the loss saw, where class weights changed them from the labeled ones."""
    check_shares(given, labels)
    target = np.array([given[name] for name in labels], dtype=float)
    target /= target.sum()
    labeled = class_shares(labeled_classes, len(labels)) if trained is None else trained
    return _apply(model, labels, labeled, target, "given", "given", log, {})


def adapt_to_pool(model, task, labeled_classes: list[int], pool_texts: list[str], seed: int, log,
                  trained: np.ndarray | None = None, **predict_options) -> dict:
    """Estimate the pool's class shares with `model` and shift its output layer to them where
    they differ from the labeled examples' (or `trained`) by MIN_SHIFT or more; returns the run
    file's record."""
    labeled = class_shares(labeled_classes, len(task.labels)) if trained is None else trained
    rng = np.random.default_rng(seed)
    texts = pool_texts if len(pool_texts) <= POOL_TEXTS else [
        pool_texts[i] for i in sorted(rng.choice(len(pool_texts), POOL_TEXTS, replace=False))]
    probs = task.proba(model, texts, desc="class shares of the pool", **predict_options)
    pool, iterations = pool_shares(probs, labeled)
    return _apply(model, task.labels, labeled, pool, "estimated",
                  f"estimated from the model's predictions of {len(texts)} pool texts", log,
                  {"texts": len(texts), "em_iterations": iterations})


def _apply(model, labels: list[str], labeled: np.ndarray, target: np.ndarray, source: str, described: str, log,
           extra: dict) -> dict:
    """Shift the output layer from the `labeled` shares to `target` where they differ by MIN_SHIFT
    or more; `source` (given, estimated) is recorded, `described` logged."""
    from .base import output_layer

    moved = shift(labeled, target)
    record = {"labeled": _shares(labels, labeled), "target": _shares(labels, target), "source": source,
              "shift": round(moved, 4), **extra}
    layer = output_layer(model, len(labels))
    shown = ", ".join(f"{name} {p:.0%} (labeled {q:.0%})" for name, p, q in zip(labels, target, labeled))
    if moved < MIN_SHIFT:
        log(f"class shares {described}: {shown}, within {MIN_SHIFT:g} of the labeled examples'; the model predicts as "
            "trained")
        return {**record, "applied": False}
    if layer.bias is None:
        log(f"class shares {described}: {shown}; the output layer has no bias to shift, so the model predicts as trained")
        return {**record, "applied": False}
    shift_bias(layer, labeled, target)
    log(f"class shares {described}: {shown}; the output layer now predicts with them")
    return {**record, "applied": True}


def _shares(labels: list[str], shares: np.ndarray) -> dict:
    return {name: round(float(p), 4) for name, p in zip(labels, shares)}
