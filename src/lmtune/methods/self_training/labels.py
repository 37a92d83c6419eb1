"""Pseudo labels from the labeled examples alone: a linear classifier over the bootstrap's views
(the backbone's sentence embeddings and the words' TF-IDF) trained on the labels labels the
pool, then learns again from its own surest pool labels (descriptions.refine_on_pool).

A frozen probe is what a few labels do best on their own, often better than fine-tuning the
whole model on them; its pool labels let the model learn from the rest of the text. This is the
bootstrap where the classes are neither the backbone's clusters nor given as descriptions.
"""
from __future__ import annotations

import numpy as np

from .clusters import Bootstrap, ClusterLabels, binomial_tail
from .descriptions import refine_on_pool


def probe_labels(views: dict[str, tuple[np.ndarray, np.ndarray] | None], classes: np.ndarray,
                 n_classes: int) -> Bootstrap:
    """`views` as for clusters.bootstrap_labels (at least one built)."""
    inputs = [name for name, v in views.items() if v is not None]
    if not inputs:
        return Bootstrap(None, {}, {name: "could not be built: too few words repeat across the texts" for name in views})
    labeled = np.hstack([views[name][0] for name in inputs])
    pool = np.hstack([views[name][1] for name in inputs])
    scores = probe_probs(labeled, classes, pool, n_classes)
    fitted = probe_probs(labeled, classes, labeled, n_classes).argmax(1) == classes
    found = ClusterLabels(scores.astype(np.float32), float(fitted.mean()), 0, np.zeros((n_classes, 0)),
                          binomial_tail(int(fitted.sum()), len(classes), 1 / n_classes))
    return refine_on_pool(Bootstrap(None, {"labels": found}, {}), views, scores, classes)


def probe_probs(train: np.ndarray, classes: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """Logistic regression on (train, classes); class probabilities of `rows` in all
    `n_classes` columns (0 for a class with no training row)."""
    from sklearn.linear_model import LogisticRegression

    probs = np.zeros((len(rows), n_classes))
    present = np.unique(classes)
    if len(present) == 1:  # nothing to separate: every row is that class
        probs[:, present[0]] = 1.0
        return probs
    model = LogisticRegression(max_iter=3000).fit(train, classes)
    probs[:, model.classes_] = model.predict_proba(rows)
    return probs
