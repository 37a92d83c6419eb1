"""Pseudo labels from the backbone's embedding space, before any training: seeded k-means
(Basu, Banerjee & Mooney, 2002). Each class's centroid starts at the mean of its labeled
examples; pool texts join the nearest centroid, centroids move to their members' mean (the
labeled examples always count for their own class), until nothing changes.

Sentence-embedding backbones (the packaged MiniLM) place texts of one topic together, so the
clusters label most of a pool right from one example per class (BBC News: 95% of the pool,
99.6% of the surest half that self-training takes; BENCHMARKS.md). Where the classes are not what the
embedding separates (sentiment, for MiniLM) the clusters split something else; the labeled
examples then fall into other classes' clusters, which `agreement` measures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Cosine similarities are divided by this before the softmax: the scale sentence-transformers
# trains its contrastive models with (1/20), so confidences read as the model was taught.
TEMPERATURE = 0.05
MAX_ITERATIONS = 50


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
    """Rows are L2-normalised embeddings; `classes` the labeled rows' class ids (every class
    present at least once)."""
    centroids = _normalise(np.stack([labeled[classes == c].mean(0) for c in range(n_classes)]))
    assigned = None
    for iteration in range(1, MAX_ITERATIONS + 1):
        nearest = (pool @ centroids.T).argmax(1)
        if assigned is not None and np.array_equal(nearest, assigned):
            break
        assigned = nearest
        members = np.concatenate([pool, labeled]), np.concatenate([assigned, classes])
        centroids = _normalise(np.stack([members[0][members[1] == c].mean(0) for c in range(n_classes)]))
    logits = pool @ centroids.T / TEMPERATURE
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    agreed = int(((labeled @ centroids.T).argmax(1) == classes).sum())
    return ClusterLabels(probs.astype(np.float32), agreed / len(classes), iteration, centroids,
                         _binomial_tail(agreed, len(classes), 1 / n_classes))


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def _normalise(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True).clip(1e-12)
