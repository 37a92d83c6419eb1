"""Pseudo labels from one sentence per class ("a negative review", "sport news"), before any
training: each pool text starts in the class whose description its sentence embedding is
closest to (zero-shot), then a linear classifier over the bootstrap's views (embedding, and the
words' TF-IDF) learns from the surest of those labels and the labeled examples, and labels the
pool again, twice (self-training on fixed features).

This is what labels a pool whose classes the embedding's clusters do not separate: MiniLM's
clusters are topics, not sentiment, yet its embeddings lie nearer "a positive review" for
positive sentences often enough, and a stronger sentence encoder (the packaged mpnet) much more
often. The descriptions are the user's words, so they are
checked only against gross mistakes: refused when the labeled examples agree with them so much
less often than chance that chance alone would rarely do it (swapped descriptions). A few
examples below chance are not that evidence: with 4 labels per class, 2 of 8 nearest their own
description happens by chance often enough, on samples where the descriptions are good.
"""
from __future__ import annotations

import numpy as np

from ..pseudo_labels import select_balanced
from .clusters import MAX_CHANCE, Bootstrap, ClusterLabels, binomial_tail, centroid_probs

# The surest share of the pool (per class) each round's classifier learns from, growing: Rotten
# Tomatoes 4/class, pool labels 72.3% with (0.3, 0.4), 70.6% with one round at 0.5 (a numpy
# prototype of these steps on the full pool, 5 seeds).
SHARES = (0.3, 0.4)
# A labeled example counts as this many pseudo-labeled ones (BBC News 4/class, same prototype:
# test 96.6% at 10, 96.1% at 1).
LABELED_WEIGHT = 10.0


def description_labels(views: dict[str, tuple[np.ndarray, np.ndarray] | None], descriptions: np.ndarray,
                       classes: np.ndarray, n_classes: int, check: bool = True) -> Bootstrap:
    """`views` as for clusters.bootstrap_labels, with "embedding" among them; `descriptions`
    [classes, dim] the L2-normalised embeddings of each class's description, in class order.
    `check=False` labels the pool even where the descriptions look swapped (method auto measures
    every candidate on held-out labels instead)."""
    labeled_rows, pool_rows = views["embedding"]
    # A class whose description is near every text (a generic word) would take the whole pool:
    # each class's similarities are measured from their median over the pool.
    similarity = pool_rows @ descriptions.T
    centre = np.median(similarity, axis=0)
    agreed = int(((labeled_rows @ descriptions.T - centre).argmax(1) == classes).sum())
    zero_shot = ClusterLabels(centroid_probs(pool_rows, descriptions, centre).astype(np.float32),
                              agreed / len(classes), 0, descriptions, binomial_tail(agreed, len(classes), 1 / n_classes))
    result = Bootstrap(None, {"descriptions": zero_shot}, {})
    if check and (problem := disagreement_problem(agreed, len(classes), n_classes)):
        result.problems["descriptions"] = problem
        return result
    return refine_on_pool(result, views, similarity - centre, classes)


def refine_on_pool(result: Bootstrap, views: dict[str, tuple[np.ndarray, np.ndarray] | None], scores: np.ndarray,
                   classes: np.ndarray) -> Bootstrap:
    """Self-training on fixed features: a linear classifier over every built view learns from the
    surest rows of `scores` [pool, classes] (SHARES, per class) and the labeled examples
    (LABELED_WEIGHT each), and scores the pool again; `result` gets the classifier and the probs."""
    from sklearn.linear_model import LogisticRegression

    result.inputs = [name for name, v in views.items() if v is not None]
    pool = np.hstack([views[name][1] for name in result.inputs])
    labeled = np.hstack([views[name][0] for name in result.inputs])
    for share in SHARES:
        rows = surest_per_class(scores, share)
        result.classifier = LogisticRegression(max_iter=3000).fit(
            np.concatenate([pool[rows], labeled]), np.concatenate([scores[rows].argmax(1), classes]),
            sample_weight=np.concatenate([np.ones(len(rows)), np.full(len(labeled), LABELED_WEIGHT)]))
        scores = result.predict({name: views[name][1] for name in result.inputs})
    result.probs = scores.astype(np.float32)
    return result


def surest_per_class(scores: np.ndarray, share: float) -> np.ndarray:
    """Rows whose top class leads the runner-up the most, at most `share` of the rows per class
    (of an even split), so a class the descriptions favour cannot crowd out the others."""
    ranked = np.sort(scores, axis=1)
    margin = ranked[:, -1] - ranked[:, -2]  # >= 0, so threshold 0 keeps every row
    n_classes = scores.shape[1]
    return select_balanced(scores.argmax(1), margin, 0.0, [int(share * len(scores) / n_classes)] * n_classes)


def disagreement_problem(agreed: int, n: int, n_classes: int) -> str | None:
    """Why the descriptions look swapped: `agreed` of the `n` labeled examples nearest their own
    class's description is a count that descriptions unrelated to the classes reach or fall
    below at most MAX_CHANCE of the time. None otherwise."""
    below = 1 - binomial_tail(agreed + 1, n, 1 / n_classes)  # P(at most `agreed`) by chance
    if below > MAX_CHANCE:
        return None
    return (f"only {agreed} of the {n} labeled examples are nearest their own class's description, fewer than "
            f"chance ({1 / n_classes:.0%}) would give in {below:.1%} of samples: check that each description "
            f"names its own label")
