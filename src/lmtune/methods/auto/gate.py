"""Never below supervised: self-training learns to answer like its pool labels, so it is kept only
where those labels are at least as right as supervised fine-tuning on the same labels.

Both are measured on the same held-out labeled examples (the folds of held_out.py): the
bootstrap started from the other folds, and a supervised model fine-tuned on the other folds
(training/cross_fit.py). The held-out examples are balanced, the pool seldom is, so each
class's share of right answers is weighted by the pool's class shares, estimated from the
bootstrap's pool labels corrected by its held-out confusions (black-box shift estimation,
Lipton et al. 2018): a bootstrap that is right on a rare class and wrong on the common one
labels most of the pool wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .held_out import Measured


@dataclass
class Verdict:
    keep: bool  # self-training's pool labels are at least as right as supervised fine-tuning
    semi: float  # the bootstrap's held-out accuracy at the pool's shares
    supervised: float  # supervised fine-tuning's, the same way
    shares: np.ndarray  # the pool's estimated class shares

    def summary(self, labels: list[str]) -> dict:
        return {"bootstrap": round(self.semi, 4), "supervised": round(self.supervised, 4), "kept": self.keep,
                "pool_shares": {label: round(float(s), 4) for label, s in zip(labels, self.shares)}}


def confusions(predicted: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    """P(answer i | class j), columns summing to 1; each column smoothed by one example spread
    evenly, so a class with few held-out examples is not taken as never confused."""
    counts = np.zeros((n, n))
    np.add.at(counts, (predicted[predicted >= 0], truth[predicted >= 0]), 1)
    counts += 1 / n
    return counts / counts.sum(0, keepdims=True)


def pool_shares(confused: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """The class shares p that, confused as measured, give the shares answered on the pool:
    argmin |C p - q|^2 + RIDGE |p - uniform|^2 over p >= 0, sum p = 1. The small pull to even
    shares decides what the answers cannot (two classes the bootstrap never tells apart)."""
    from scipy.optimize import nnls

    n = len(answered)
    weight, ridge = 10.0, 0.1  # the sum held to 1 far more tightly than any one share
    a = np.vstack([confused, ridge * np.eye(n), weight * np.ones((1, n))])
    p, _ = nnls(a, np.concatenate([answered, np.full(n, ridge / n), [weight]]))
    return p / p.sum() if p.sum() > 0 else np.full(n, 1 / n)


def weighted_accuracy(predicted: np.ndarray, truth: np.ndarray, shares: np.ndarray) -> float:
    """Each class's held-out recall weighted by its share (classes with no held-out example left out)."""
    present = np.unique(truth)
    recall = np.array([(predicted[truth == c] == c).mean() for c in present])
    weights = shares[present]
    return float(recall @ weights / weights.sum()) if weights.sum() > 0 else float(recall.mean())


def judge(bootstrap: Measured, supervised: np.ndarray, truth: np.ndarray, n: int) -> Verdict:
    """`bootstrap`: the chosen bootstrap's held-out answers and pool shares; `supervised`: the
    class each labeled example gets from supervised fine-tuning without its fold (-1: not held out)."""
    held = supervised >= 0
    shares = pool_shares(confusions(bootstrap.predicted[held], truth[held], n), bootstrap.pool_shares)
    semi = weighted_accuracy(bootstrap.predicted[held], truth[held], shares)
    plain = weighted_accuracy(supervised[held], truth[held], shares)
    return Verdict(semi >= plain, semi, plain, shares)
