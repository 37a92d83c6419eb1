"""Never below supervised: self-training learns to answer like its pool labels, so it is kept only
where those labels are shown to be more right than supervised fine-tuning on the same labels.

Both are measured on the same held-out labeled examples (the folds of held_out.py): the
bootstrap started from the other folds, and a supervised model fine-tuned on the other folds
(training/cross_fit.py). The held-out examples are balanced, the pool seldom is, so each
class's share of right answers is weighted by the pool's class shares, estimated from each
route's answers on the pool corrected by its held-out confusions (black-box shift estimation,
Lipton et al. 2018; the mean of the two routes' estimates): a bootstrap that is right on a rare
class and wrong on the common one labels most of the pool wrong.

The burden of proof is on self-training: a bootstrap that scores a little better on a dozen
held-out examples has often labeled the pool no better than chance (BENCHMARKS.md, "method
auto"). So besides scoring at least as well at the pool's shares, it must show it, one of two
ways: win a one-sided sign test over the held-out examples where exactly one route is right
(the paired comparison, McNemar's exact test), or be right on so many held-out examples that
luck would do it less than once in a thousand times (clusters that are the classes; a dozen
examples rarely show a paired win). A few held-out examples per class resolve differences of
tens of points, not of one or two: the gate cannot promise the last point.

Label descriptions are the exception: they are the user's knowledge, not a guess of the pool's
structure, and a few labels can rarely prove them right. Their pool labels are kept where they
score at least as well at the pool's shares, proven or not (BENCHMARKS.md, "auto trusts the
user's descriptions").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..self_training.clusters import binomial_tail
from .held_out import Measured, luck_of

EVIDENCE = 0.05  # the largest chance, were the two routes equally right, of the bootstrap's wins over supervised
# ... or the largest chance of its held-out score, were it guessing the commonest class: chosen on
# dev splits, between the bootstraps that failed (0.004, 0.025) and those that won (<= 0.0001)
FAR_BEYOND_CHANCE = 0.001


@dataclass
class Verdict:
    semi: float  # the bootstrap's held-out accuracy at the pool's shares
    supervised: float  # supervised fine-tuning's, the same way
    shares: np.ndarray  # the pool's estimated class shares
    recall: dict  # route -> each class's share of its held-out examples answered right
    wins: int  # held-out examples the bootstrap gets right and supervised wrong
    losses: int  # the other way round
    chance: float  # the sign test: P(at least `wins` of the wins + losses) were both routes equally right
    luck: float  # P(the bootstrap's held-out score or better) answering the commonest class by chance
    given: bool = False  # the pool labels come from the user's label descriptions: no proof asked of them

    @property
    def shown(self) -> bool:
        return self.chance <= EVIDENCE or self.luck <= FAR_BEYOND_CHANCE

    @property
    def keep(self) -> bool:  # self-training's pool labels are (shown to be) at least as right as supervised's answers
        return self.semi >= self.supervised and (self.shown or self.given)

    def summary(self, labels: list[str]) -> dict:
        return {"bootstrap": round(self.semi, 4), "supervised": round(self.supervised, 4), "kept": self.keep,
                "proof_asked": not self.given,
                "wins": self.wins, "losses": self.losses, "sign_test": round(self.chance, 4),
                "beyond_chance": float(f"{self.luck:.3g}"),
                "pool_shares": {label: round(float(s), 4) for label, s in zip(labels, self.shares)},
                "recall": {route: {labels[c]: round(r, 4) for c, r in per_class.items()}
                           for route, per_class in self.recall.items()}}


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


def recalls(predicted: np.ndarray, truth: np.ndarray) -> dict[int, float]:
    """Each class (with held-out examples) -> the share of them answered right."""
    return {int(c): float((predicted[truth == c] == c).mean()) for c in np.unique(truth)}


def weighted_accuracy(predicted: np.ndarray, truth: np.ndarray, shares: np.ndarray) -> float:
    """Each class's held-out recall weighted by its share (classes with no held-out example left out)."""
    return weighted(recalls(predicted, truth), shares)


def weighted(found: dict[int, float], shares: np.ndarray) -> float:
    """recalls() weighted by the classes' shares."""
    recall, weights = np.array(list(found.values())), shares[list(found)]
    return float(recall @ weights / weights.sum()) if weights.sum() > 0 else float(recall.mean())


SHARE_SAMPLE = 400  # pool texts the supervised fold models answer, for the pool's class shares


def judge(bootstrap: Measured, supervised: np.ndarray, supervised_shares: np.ndarray | None, truth: np.ndarray,
          n: int, given: bool = False) -> Verdict:
    """`bootstrap`: the chosen bootstrap's held-out answers and pool shares; `supervised`: the
    class each labeled example gets from supervised fine-tuning without its fold (-1: not held
    out); `supervised_shares`: the classes' shares among its answers on pool texts (or None);
    `given`: the bootstrap labels from the user's descriptions (kept unless measured worse)."""
    held = supervised >= 0
    semi_answers, plain_answers, truth = bootstrap.predicted[held], supervised[held], truth[held]
    shares = pool_shares(confusions(semi_answers, truth, n), bootstrap.pool_shares)
    if supervised_shares is not None:  # two classifiers' estimates: neither's own bias decides alone
        shares = (shares + pool_shares(confusions(plain_answers, truth, n), supervised_shares)) / 2
    found = {"bootstrap": recalls(semi_answers, truth), "supervised": recalls(plain_answers, truth)}
    semi, plain = weighted(found["bootstrap"], shares), weighted(found["supervised"], shares)
    wins, losses = paired(semi_answers == truth, plain_answers == truth)
    return Verdict(semi, plain, shares, found, wins, losses, binomial_tail(wins, wins + losses, 0.5),
                   luck_of(int((semi_answers == truth).sum()), len(truth), truth), given)


def paired(first_right: np.ndarray, second_right: np.ndarray) -> tuple[int, int]:
    """(examples only the first gets right, examples only the second gets right)."""
    return int((first_right & ~second_right).sum()), int((second_right & ~first_right).sum())
