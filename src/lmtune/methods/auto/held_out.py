"""How well each way of labeling the pool labels texts it did not learn from: cross-validation
over the labeled examples. Each fold's bootstrap starts from the other folds' labels and the
whole pool, and labels the held-out examples like any pool text; the share it gets right
estimates the accuracy of the pseudo labels the model would train on.

The candidates are self-training's bootstraps (clusters over every view or over one,
descriptions where given, the labels' own linear probe), run with their refusal checks off:
measured on held-out labels, a bootstrap that would be refused simply scores low.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..self_training.clusters import Bootstrap, binomial_tail, bootstrap_labels
from ..self_training.descriptions import description_labels
from ..self_training.labels import probe_labels

MAX_FOLDS = 4


@dataclass(frozen=True)
class Candidate:
    """One way of labeling the pool: a self-training bootstrap over some views."""
    bootstrap: str  # clusters | descriptions | labels
    views: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.bootstrap}[{'+'.join(self.views)}]"


def candidates(built: list[str], descriptions: bool, allowed: list[str]) -> list[Candidate]:
    """The candidates, in order of preference on a tie: the pool's own structure first."""
    found = []
    if "clusters" in allowed and built:
        found.append(Candidate("clusters", tuple(built)))
        if len(built) > 1:  # fewer views: one view's clusters can be the classes where the other's are not
            found += [Candidate("clusters", (name,)) for name in built]
    if "descriptions" in allowed and descriptions and "embedding" in built:
        found.append(Candidate("descriptions", tuple(built)))
    if "labels" in allowed and built:
        found.append(Candidate("labels", tuple(built)))
    return found


def label_pool(candidate: Candidate, views: dict, classes: np.ndarray, n_classes: int,
               descriptions: np.ndarray | None = None) -> Bootstrap:
    """The candidate's bootstrap over its views, checks off."""
    chosen = {name: views[name] for name in candidate.views}
    if candidate.bootstrap == "clusters":
        return bootstrap_labels(chosen, classes, n_classes, check=False)
    if candidate.bootstrap == "descriptions":
        return description_labels(chosen, descriptions, classes, n_classes, check=False)
    return probe_labels(chosen, classes, n_classes)


def folds(classes: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Stratified folds over the labeled examples (every class in every training part), or None
    where a class has a single example: nothing can be held out of it."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(classes)
    smallest = counts[counts > 0].min()
    if smallest < 2:
        return None
    splitter = StratifiedKFold(n_splits=min(MAX_FOLDS, int(smallest)), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(classes)), classes))


@dataclass
class Measured:
    candidate: Candidate
    correct: int
    total: int
    seconds: float
    predicted: np.ndarray  # each labeled example's class from the fold that held it out (-1: none)
    pool_shares: np.ndarray  # the classes' shares of the pool labels, mean over the folds

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


def held_out_accuracy(candidate: Candidate, views: dict, classes: np.ndarray, n_classes: int,
                      splits: list[tuple[np.ndarray, np.ndarray]], descriptions: np.ndarray | None = None,
                      labeler=label_pool) -> Measured:
    """Accuracy on each fold's held-out labeled examples of the bootstrap started from the rest."""
    import time

    started, correct, total = time.perf_counter(), 0, 0
    predicted, shares = np.full(len(classes), -1), []
    for train, held in splits:
        part = {name: (v[0][train], v[1]) for name, v in views.items() if name in candidate.views}
        found = labeler(candidate, part, classes[train], n_classes, descriptions)
        total += len(held)
        if found.probs is None:
            continue
        shares.append(np.bincount(found.probs.argmax(1), minlength=n_classes) / len(found.probs))
        predicted[held] = found.predict({name: views[name][0][held] for name in found.inputs}).argmax(1)
        correct += int((predicted[held] == classes[held]).sum())
    pool = np.mean(shares, 0) if shares else np.full(n_classes, 1 / n_classes)
    return Measured(candidate, correct, total, time.perf_counter() - started, predicted, pool)


def better_than_chance(measured: Measured, classes: np.ndarray, level: float = 0.05) -> bool:
    """Whether the held-out accuracy is above what always answering the commonest class gives,
    beyond what luck would do `level` of the time."""
    return luck_of(measured.correct, measured.total, classes) <= level


def chance_rate(classes: np.ndarray) -> float:
    """The share of held-out examples always answering the commonest of `classes` gets right."""
    return float(np.bincount(classes).max() / len(classes))


def not_below_chance(measured: Measured, classes: np.ndarray) -> bool:
    """Whether the held-out accuracy is at least always answering the commonest class's, luck or not."""
    return measured.correct >= chance_rate(classes) * measured.total - 1e-9


def luck_of(correct: int, total: int, classes: np.ndarray) -> float:
    """P(`correct` of `total` held-out examples right, or more) for a guess at the rate of the
    commonest of `classes`."""
    return binomial_tail(correct, total, chance_rate(classes))
