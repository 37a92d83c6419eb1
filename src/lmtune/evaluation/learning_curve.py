"""Learning curves of a few labels: how accuracy grows with labels per class, measured with a
frozen-embedding probe on nested subsets and extrapolated by a power law. numpy and scikit-learn
only; `lmtune data budget` (curation/budget.py) and method auto's run record use it.

For each of several reshuffles every class's rows are shuffled once; a logistic regression
trained on the first k rows of each class (nested: the k-sample grows by adding rows) is scored
on every row it did not train on. The smaller budgets are scored on more rows than the largest
leaves (one per class): their points are far less noisy than one held-out row per class, each
right or wrong, would make them. The error, as a share of
what guessing leaves (1 - accuracy) / (1 - chance), is fitted by a power law b x k^-c (a
straight line in log-log) and extrapolated to larger budgets: predictions stay between chance
and 100%. The range comes from fitting each reshuffle's curve alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HELD_OUT_PER_CLASS = 1  # rows of each class that no budget trains on (the largest budget's score)
MIN_ERROR = 1e-3  # a perfect score would be log(0): errors are floored here before the fit


@dataclass
class Curve:
    budgets: list[int]  # labels per class measured
    chance: float  # the accuracy of guessing (1 / classes): the curve's floor
    accuracy: np.ndarray  # [seeds, budgets]
    targets: list[int]
    predicted: dict[int, float]  # labels per class -> predicted accuracy (all seeds' mean curve)
    low: dict[int, float]  # ... the lowest of the seeds' own fits
    high: dict[int, float]

    def summary(self) -> dict:
        return {"measured": {str(k): {"mean": round(float(self.accuracy[:, i].mean()), 4),
                                      "std": round(float(self.accuracy[:, i].std()), 4)}
                             for i, k in enumerate(self.budgets)},
                "predicted": {str(k): {"accuracy": round(self.predicted[k], 4), "low": round(self.low[k], 4),
                                       "high": round(self.high[k], 4)} for k in self.targets}}


def budgets_for(smallest_class: int, held_out: int = HELD_OUT_PER_CLASS) -> list[int]:
    """1, 2, 4, ... up to what the rarest class leaves after its held-out rows (and that count itself)."""
    top = smallest_class - held_out
    found = [k for k in (2 ** i for i in range(12)) if k <= top]
    return found + ([top] if found and top not in found else [])


def measure_curve(features: np.ndarray, y: np.ndarray, budgets: list[int], seeds: int, seed: int = 0) -> np.ndarray:
    """Probe accuracy [seeds, budgets], each budget scored on the rows it did not train on."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(y)
    out = np.zeros((seeds, len(budgets)))
    for s in range(seeds):
        rng = np.random.default_rng(seed + s)
        order = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
        for i, k in enumerate(budgets):
            train = np.concatenate([order[c][:k] for c in classes])
            held = np.concatenate([order[c][k:] for c in classes])
            model = LogisticRegression(max_iter=2000).fit(features[train], y[train])
            out[s, i] = float((model.predict(features[held]) == y[held]).mean())
    return out


def power_law(budgets: list[int], accuracy: np.ndarray, chance: float = 0.0) -> tuple[float, float]:
    """(log b, c) of (1 - accuracy) / (1 - chance) = b x k^-c fitted by least squares in log-log;
    c >= 0 (more labels never hurt: a falling curve is fitted flat, at its mean level)."""
    x = np.log(np.asarray(budgets, dtype=float))
    left = (1 - np.asarray(accuracy, dtype=float)) / (1 - chance)
    e = np.log(np.clip(left, MIN_ERROR, 1))
    if len(x) < 2:
        return float(e[0]), 0.0
    slope, intercept = np.polyfit(x, e, 1)
    if slope > 0:
        return float(e.mean()), 0.0
    return float(intercept), float(-slope)


def predict(fit: tuple[float, float], k: int, chance: float = 0.0) -> float:
    log_b, c = fit
    return float(1 - (1 - chance) * min(1.0, math.exp(log_b) * k ** -c))


def fit_curve(budgets: list[int], accuracy: np.ndarray, targets: list[int], chance: float = 0.0) -> Curve:
    """`chance`: the accuracy of guessing, 1 / classes."""
    mean_fit = power_law(budgets, accuracy.mean(0), chance)
    seed_fits = [power_law(budgets, row, chance) for row in accuracy]
    predicted = {k: predict(mean_fit, k, chance) for k in targets}
    per_seed = {k: [predict(f, k, chance) for f in seed_fits] for k in targets}
    return Curve(budgets, chance, accuracy, targets, predicted, {k: min(v) for k, v in per_seed.items()},
                 {k: max(v) for k, v in per_seed.items()})
