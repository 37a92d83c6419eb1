"""Acquisition functions: which unlabeled rows to label next, registered by name (`lmtune ls`).

Uncertainty ones rank the pool by the current model's class probabilities; k-center picks rows
far from everything already labeled or picked (diversity, in the model's embedding space);
random is the baseline to beat. Plain numpy on what the model gave: no model here.
"""
from __future__ import annotations

import random

import numpy as np

from ..registry import Registry


class Acquisition:
    """Base class: `pick(budget, probs, embeddings, labeled_embeddings, rng)` -> pool indices, best first."""

    uses_embeddings = False

    def pick(self, budget: int, probs: np.ndarray, embeddings, labeled_embeddings, rng: random.Random) -> list[int]:
        scores = self.scores(probs)
        return [int(i) for i in np.argsort(-scores, kind="stable")[:budget]]

    def scores(self, probs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


ACQUISITIONS: Registry[Acquisition] = Registry("acquisition function")
register_acquisition = ACQUISITIONS.register


@register_acquisition("entropy")
class Entropy(Acquisition):
    """Highest entropy of the predicted class distribution."""

    def scores(self, probs):
        return -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(1)


@register_acquisition("margin")
class Margin(Acquisition):
    """Smallest gap between the two most probable classes."""

    def scores(self, probs):
        top = np.sort(probs, axis=1)
        return -(top[:, -1] - top[:, -2])


@register_acquisition("least-confidence")
class LeastConfidence(Acquisition):
    """Lowest probability of the predicted class."""

    def scores(self, probs):
        return -probs.max(1)


@register_acquisition("kcenter")
class KCenter(Acquisition):
    """Greedy k-center (core-set): each pick is the row farthest from the labeled set and earlier picks."""

    uses_embeddings = True

    def pick(self, budget, probs, embeddings, labeled_embeddings, rng):
        if labeled_embeddings is not None and len(labeled_embeddings):
            distance = np.min(1 - embeddings @ labeled_embeddings.T, axis=1)  # cosine distance, unit vectors
        else:
            distance = np.full(len(embeddings), np.inf)
            distance[rng.randrange(len(embeddings))] = -np.inf  # no labeled set: start from a random row
        picked = []
        for _ in range(min(budget, len(embeddings))):
            i = int(np.argmax(distance))
            picked.append(i)
            distance = np.minimum(distance, 1 - embeddings @ embeddings[i])
            distance[picked] = -np.inf
        return picked


@register_acquisition("random")
class Random(Acquisition):
    """Uniformly at random (the baseline)."""

    def pick(self, budget, probs, embeddings, labeled_embeddings, rng):
        return rng.sample(range(len(probs)), min(budget, len(probs)))
