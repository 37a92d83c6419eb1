"""Imbalanced labeled data: weights of the classes in the loss (training.class_weights) and a
sampler that draws every class equally often (training.sampler: balanced)."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def class_counts(labels: list[str], examples: list) -> np.ndarray:
    index = {lb: i for i, lb in enumerate(labels)}
    return np.bincount([index[ex.label] for ex in examples], minlength=len(labels)).astype(float)


def class_weight_vector(setting, labels: list[str], examples: list) -> np.ndarray | None:
    """One weight per label: none -> None; auto -> n / (classes x n_c) over the classes present
    (sklearn's "balanced": every class weighs as much in the loss as if classes were equal);
    {label: weight} -> as given, every label named."""
    if setting == "none":
        return None
    if setting == "auto":
        counts = class_counts(labels, examples)
        present = counts > 0
        weights = np.ones(len(labels))
        weights[present] = counts[present].sum() / (present.sum() * counts[present])
        return weights
    unknown, missing = sorted(set(setting) - set(labels)), [lb for lb in labels if lb not in setting]
    if unknown or missing:
        raise ConfigError("training.class_weights " + "; ".join(
            ([f"names labels the data does not have: {', '.join(unknown)}"] if unknown else []) +
            ([f"gives no weight for {', '.join(missing)}"] if missing else [])),
            fix=f"give one positive weight per label ({', '.join(labels)}), or use class_weights: auto.")
    return np.array([float(setting[lb]) for lb in labels])


def balanced_sample_weights(labels: list[str], examples: list) -> list[float]:
    """Per example 1 / its class's count: a weighted sampler then draws each class equally often."""
    counts = class_counts(labels, examples)
    index = {lb: i for i, lb in enumerate(labels)}
    return [1.0 / counts[index[ex.label]] for ex in examples]


def trained_shares(labels: list[str], examples: list, weights: np.ndarray | None, sampler: str) -> np.ndarray | None:
    """The class shares the loss saw, where weights or the sampler moved them from the labeled
    examples' own (None: they did not); the class-prior shift starts from these."""
    if sampler == "balanced":
        counts = class_counts(labels, examples)
        return (counts > 0) / max(1, (counts > 0).sum())
    if weights is None:
        return None
    mass = class_counts(labels, examples) * weights
    return mass / mass.sum()
