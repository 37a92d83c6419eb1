"""Pseudo labels from the backbone's embedding space, before any training: seeded k-means
(Basu, Banerjee & Mooney, 2002). Each class's centroid starts at the mean of its labeled
examples; pool texts join the nearest centroid, centroids move to their members' mean (the
labeled examples always count for their own class), until nothing changes.

Sentence-embedding backbones (the packaged MiniLM) place texts of one topic together, so the
clusters label most of a topic pool right from one example per class. Where the classes are
not what the embedding separates (sentiment, for MiniLM) the clusters split something else; the
labeled examples then fall into other classes' clusters, which `agreement` measures.

A second, lexical view (TF-IDF of the words, reduced by SVD) errs on other texts than the
embedding does, so where both views' clusters name the same class they are right more often
than either alone (co-training, Blum & Mitchell, 1998): those texts train a linear classifier
over both views, which labels the whole pool.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Cosine similarities are divided by this before the softmax: the scale sentence-transformers
# trains its contrastive models with (1/20), so confidences read as the model was taught.
TEMPERATURE = 0.05
MAX_ITERATIONS = 50
# Below this share of labeled examples nearest their own class's centroid, the clusters are not
# the classes (BBC topics: 85-100% from 2-16 labels per class; Rotten Tomatoes sentiment: 38-75%).
MIN_AGREEMENT = 0.8
# ... and an agreement that unrelated clusters reach more often than this is no evidence either
# (Rotten Tomatoes, 1 label per class: both sentences in their own cluster in 1 seed of 3).
MAX_CHANCE = 0.05
# Words in more texts than this share name no topic (a stop-word list for any language).
LEXICAL_MAX_DF = 0.5
LEXICAL_DIMENSIONS = 256


@dataclass
class ClusterLabels:
    probs: np.ndarray  # [pool, classes]: softmax of the scaled similarity to each centroid
    agreement: float  # share of the labeled examples whose nearest centroid is their own class
    iterations: int
    centroids: np.ndarray  # [classes, dim], L2-normalised
    # P(at least this agreement) if the clusters had nothing to do with the classes (each labeled
    # example in its own class's cluster with probability 1/classes): 25% for 2 classes x 1 label
    chance: float


def seeded_kmeans(pool: np.ndarray, labeled: np.ndarray, classes: np.ndarray, n_classes: int) -> ClusterLabels:
    """Rows are one view's L2-normalised features; `classes` the labeled rows' class ids (every
    class present at least once)."""
    if len(np.unique(classes)) < n_classes:
        raise ValueError(f"seeded k-means starts each of the {n_classes} classes' centroids at its labeled examples; "
                         f"only {len(np.unique(classes))} classes have one")
    centroids = _normalise(np.stack([labeled[classes == c].mean(0) for c in range(n_classes)]))
    assigned = None
    for iteration in range(1, MAX_ITERATIONS + 1):
        nearest = (pool @ centroids.T).argmax(1)
        if assigned is not None and np.array_equal(nearest, assigned):
            break
        assigned = nearest
        members = np.concatenate([pool, labeled]), np.concatenate([assigned, classes])
        centroids = _normalise(np.stack([members[0][members[1] == c].mean(0) for c in range(n_classes)]))
    probs = centroid_probs(pool, centroids)
    agreed = int(((labeled @ centroids.T).argmax(1) == classes).sum())
    return ClusterLabels(probs.astype(np.float32), agreed / len(classes), iteration, centroids,
                         binomial_tail(agreed, len(classes), 1 / n_classes))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def centroid_probs(rows: np.ndarray, centroids: np.ndarray, centre: np.ndarray | float = 0.0) -> np.ndarray:
    """Class probabilities from cosine similarity to each class's centroid (less `centre`, per
    class), at TEMPERATURE."""
    logits = (rows @ centroids.T - centre) / TEMPERATURE
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return probs / probs.sum(1, keepdims=True)


def _normalise(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True).clip(1e-12)


def bootstrap_problem(found: ClusterLabels) -> str | None:
    """Why one view's clusters should not label the pool, or None."""
    if found.agreement < MIN_AGREEMENT:
        return (f"only {found.agreement:.0%} of the labeled examples lie nearest their own class's cluster "
                f"(< {MIN_AGREEMENT:.0%}): this view does not separate these classes")
    if found.chance > MAX_CHANCE:
        return (f"{found.agreement:.0%} of the labeled examples lie nearest their own class's cluster, but clusters "
                f"unrelated to the classes would do that {found.chance:.0%} of the time with so few labels "
                f"(> {MAX_CHANCE:.0%}); more labels per class let this check decide")
    return None


def lexical_features(texts: list[str], fit_on: int | None = None) -> np.ndarray | None:
    """TF-IDF of the words (sublinear counts; English stop words, words in over half the texts
    and words in one text dropped), reduced to at most 256 dimensions by truncated SVD (latent
    semantic analysis), L2-normalised; fitted on the first `fit_on` texts (default all). None
    when too few words are left to make a view."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    fit_on = len(texts) if fit_on is None else fit_on
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2, max_df=LEXICAL_MAX_DF)
    try:
        counts = vectorizer.fit(texts[:fit_on]).transform(texts)
    except ValueError:  # nothing left after the pruning (a handful of short texts)
        return None
    dimensions = min(LEXICAL_DIMENSIONS, counts.shape[1] - 1, fit_on - 1)
    if dimensions < 2:
        return None
    svd = TruncatedSVD(dimensions, random_state=0).fit(counts[:fit_on])
    return _normalise(svd.transform(counts)).astype(np.float32)


@dataclass
class Bootstrap:
    """Pool labels from one or more views' clusters (bootstrap_labels), or from the classes'
    descriptions (descriptions.description_labels)."""
    probs: np.ndarray | None  # [pool, classes]; None when a view's clusters are not the classes
    found: dict[str, ClusterLabels]  # each view's clusters (or the descriptions' zero-shot labels)
    problems: dict[str, str]  # view -> why its clusters are not the classes (any: none is used)
    agree: float | None = None  # with several views used: share of the pool all their clusters agree on
    classifier: object = None  # the linear classifier over the `inputs` views, where there is one
    inputs: list[str] = field(default_factory=list)  # the views that label other texts (predict)

    @property
    def n_classes(self) -> int:
        return next(iter(self.found.values())).probs.shape[1]

    @property
    def used(self) -> list[str]:
        return [] if self.problems else list(self.found)

    def predict(self, views: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities for other texts, given their features in each of the `inputs` views."""
        if self.classifier is not None:
            # columns for the classes the classifier saw; one it never saw (no example, no pool text) gets 0
            probs = np.zeros((len(views[self.inputs[0]]), self.n_classes))
            probs[:, self.classifier.classes_] = self.classifier.predict_proba(
                np.hstack([views[name] for name in self.inputs]))
        else:
            probs = centroid_probs(views[self.inputs[0]], self.found[self.inputs[0]].centroids)
        return probs


def bootstrap_labels(views: dict[str, tuple[np.ndarray, np.ndarray] | None], classes: np.ndarray,
                     n_classes: int, check: bool = True) -> Bootstrap:
    """`views`: name -> (labeled rows, pool rows), each L2-normalised, or None for a view that
    could not be built (lexical_features). Seeded k-means in every view; when every view is
    built and passes bootstrap_problem they label the pool: one alone by its
    clusters; two or more by a logistic regression over them side by side, trained on the
    labeled examples and the pool texts all their clusters agree on. One failing view refuses
    the whole bootstrap: the other view's agreement alone has passed clusters that were not the
    classes (sentiment: the labeled sentences in their own lexical clusters, the pool labeled
    barely above chance). `check=False` skips bootstrap_problem (method auto measures the
    clusters on held-out labels instead)."""
    from sklearn.linear_model import LogisticRegression

    found = {name: seeded_kmeans(v[1], v[0], classes, n_classes) for name, v in views.items() if v is not None}
    problems = {name: "could not be built: too few words repeat across the texts" for name, v in views.items()
                if v is None}
    if check:
        problems.update((name, problem) for name, f in found.items() if (problem := bootstrap_problem(f)))
    result = Bootstrap(None, found, problems)
    used = result.inputs = result.used
    if len(used) > 1:
        nearest = np.stack([found[name].probs.argmax(1) for name in used])
        agreed = (nearest == nearest[0]).all(0)
        pool = np.hstack([views[name][1] for name in used])
        labeled = np.hstack([views[name][0] for name in used])
        result.classifier = LogisticRegression(max_iter=2000).fit(
            np.concatenate([labeled, pool[agreed]]), np.concatenate([classes, nearest[0][agreed]]))
        result.agree = float(agreed.mean())
    if used:
        result.probs = result.predict({name: views[name][1] for name in used}).astype(np.float32)
    return result
