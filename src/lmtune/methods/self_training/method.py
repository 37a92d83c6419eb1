"""Self-training: label the pool with the model, keep the confident predictions (class-balanced),
train on them beside the labels, and label again, for several rounds.

The rounds run inside one training run: the steps are cut into rounds + 1 equal parts; the
first is supervised only, and at the end of each part the teacher (the student itself, or an
EMA of it) labels the whole pool again. Training continues from the current weights rather
than restarting, which costs one pool pass per round instead of one whole run.

`bootstrap: clusters` (classification) labels the pool before the first step instead, by
seeded k-means over the backbone's sentence embeddings and over the words' TF-IDF, combined
where they agree (clusters.py): the first part then trains on pseudo labels too, which
is what lifts one label per class on topic data. `bootstrap: descriptions` labels it from one
sentence per class (`label_descriptions`, descriptions.py) where the clusters are not
the classes (sentiment). `rounds: 0` keeps the bootstrap's labels for the whole run: where
the bootstrap is good they are more often right than a half-trained model's relabelling.
When a view's clusters (or the descriptions) disagree with the labeled examples the bootstrap is
skipped, with a log line that names the view (and rounds: 0 becomes one round of the model's
own labels).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from transformers import TrainerCallback

from ...errors import ConfigError
from ...options.methods import SelfTrainingOptions
from ...tasks.class_prior import class_shares, shift
from .. import register_method
from ..pseudo_labels import (
    EMATeacher,
    class_caps,
    independent_loss,
    independent_targets,
    index_pool,
    label_prior,
    positionwise_distillation,
    select_balanced,
    sharpen,
)
from ..semi import SemiSupervised
from .clusters import bootstrap_labels, lexical_features
from .descriptions import description_labels
from .labels import probe_labels


@register_method("self-training")
class SelfTraining(SemiSupervised):
    """Pseudo-label the pool each round (confidence threshold, class balance), train on it; EMA teacher optional."""

    def __init__(self, config, task):
        super().__init__(config, task)
        given = config.label_descriptions or {}
        missing, unknown = [n for n in task.labels if n not in given], [n for n in given if n not in task.labels]
        if given and (missing or unknown):
            raise ConfigError(
                "method.label_descriptions must describe each label once: "
                + "; ".join(part for part in [missing and f"no description for {', '.join(map(repr, missing))}",
                                              unknown and f"not a label: {', '.join(map(repr, unknown))}"] if part),
                fix=f"give one sentence for each of the labels {', '.join(map(repr, task.labels))}.")

    def prepare(self, run):
        model, pool, labeled, train_dataset = run.model, run.pool, run.labeled, run.train_dataset
        self.pool = pool
        self.teacher = EMATeacher(model, self.config.ema_decay) if self.config.teacher == "ema" else None
        self.prior = label_prior(train_dataset, len(self.task.labels))  # None for tags: selected by confidence alone
        self.targets: list[torch.Tensor] = []
        self.selected: list[int] = []
        self.history: list[dict] = []
        self.rounds = self.config.rounds  # labelling rounds the model does in this run
        self.shares: np.ndarray | None = None  # class shares of the first pool labels: what a collapse drifts from
        self.collapsed = False
        self.given_views = run.views
        if self.config.bootstrap != "none" and pool:
            self.label_pool_before_training(model, labeled, train_dataset)

    def unlabeled_dataset(self, pool):
        return index_pool(super().unlabeled_dataset(pool))

    def drawable(self):
        return self.selected

    def callbacks(self):
        return [_Rounds(self)]

    def round_steps(self) -> list[int]:
        parts = self.rounds + 1
        return sorted({max(1, round(self.total_steps * k / parts)) for k in range(1, parts)})

    @torch.no_grad()
    def label_pool(self, model, round_no: int) -> dict:
        """Predict the pool with the teacher, select pseudo labels; returns the round's summary.
        After a collapse (collapse_problem) the pool is not labeled again: the last labels stay."""
        if self.collapsed:
            return self.history[-1]
        was_training = model.training
        teacher = self.teacher.model if self.teacher is not None else model
        targets, confidence, classes = self.task.soft_targets(teacher, self.pool)
        model.train(was_training)
        if classes is not None and (problem := collapse_problem(self.shares, classes, self.task.labels)):
            self.collapsed = True
            summary = {"round": round_no, "used": False, "collapse": problem}
            self.history.append(summary)
            self.log(f"self-training round {round_no}: pseudo-label collapse: {problem}; the pool keeps the labels of "
                     "the round before and is not labeled again")
            return summary
        summary = self.keep(targets, confidence, classes, round_no / self.rounds, {"round": round_no})
        counts = summary.get("per_class") or summary.get("per_label")
        self.log(f"self-training round {round_no}: {summary['pseudo_labels']} of {summary['pool']} pool texts "
                 f"pseudo-labeled" + (f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else ""))
        return summary

    def label_pool_before_training(self, model, labeled, train_dataset) -> dict:
        """Round 0: the bootstrap's labels (clusters.bootstrap_labels, or
        descriptions.description_labels), taken like round 1's (same share of the pool), unless
        a view's clusters (or the descriptions) are not the classes."""
        started = time.perf_counter()
        c = self.config
        classes = np.array([f["labels"] for f in train_dataset.features])
        absent = [name for i, name in enumerate(self.task.labels) if i not in classes]
        if absent and c.bootstrap == "clusters":  # no example to start their clusters from: not worth the embedding
            return self.bootstrap_not_used({"round": 0, "source": c.bootstrap, "views": []}, {
                "labels": f"no labeled example of {', '.join(map(repr, absent))} to start its cluster from"},
                "bootstrap: descriptions can label a class without examples")
        views = self.bootstrap_views(model, labeled, train_dataset)
        n = len(self.task.labels)
        if c.bootstrap == "descriptions":
            found = description_labels(views, self.embed_descriptions(model), classes, n, c.bootstrap_checks)
        elif c.bootstrap == "labels":
            found = probe_labels(views, classes, n)
        else:
            found = bootstrap_labels(views, classes, n, c.bootstrap_checks)
        summary = {"round": 0, "source": c.bootstrap, "views": found.inputs,
                   **{f"{name}_agreement": round(f.agreement, 4) for name, f in found.found.items()},
                   **{f"{name}_chance": round(f.chance, 4) for name, f in found.found.items()},
                   "iterations": max((f.iterations for f in found.found.values()), default=0)}
        if found.agree is not None:
            summary["views_agree"] = round(found.agree, 4)
        summary["seconds"] = round(time.perf_counter() - started, 1)
        if found.probs is None:
            return self.bootstrap_not_used(summary, {f"{name} view": why for name, why in found.problems.items()},
                                           "label_descriptions can be reworded" if c.bootstrap == "descriptions" else
                                           "bootstrap_views can name the views to cluster")
        probs = found.probs
        summary = self.keep(list(torch.from_numpy(probs)), probs.max(1), probs.argmax(1), bootstrap_share(self.rounds),
                            summary)
        over = " and ".join(found.inputs)
        if c.bootstrap == "descriptions":
            agreement = found.found["descriptions"].agreement
            how = (f"a linear classifier over the {over} view(s), trained on the texts nearest each label's "
                   f"description ({agreement:.0%} of the labeled examples are"
                   + ("; fewer than chance, but too few examples to call the descriptions wrong)"
                      if agreement < 1 / len(self.task.labels) else ")"))
        elif c.bootstrap == "labels":
            how = f"a linear classifier over the {over} view(s), trained on the labeled examples"
        elif len(found.inputs) == 1:
            how = f"the {over} clusters"
        else:
            how = (f"a linear classifier over the {over} views, trained where their clusters agree "
                   f"({found.agree:.0%} of the pool)")
        self.log(f"self-training bootstrap: {summary['pseudo_labels']} of {len(self.pool)} pool texts pseudo-labeled "
                 f"by {how}; {summary['seconds']:.0f} s")
        return summary

    def bootstrap_not_used(self, summary: dict, problems: dict[str, str], fix: str) -> dict:
        """Log why (`problems`: what -> why), record round 0 as unused; the model labels the pool instead."""
        for what, why in problems.items():
            self.log(f"self-training bootstrap: {what}: {why}")
        summary["used"] = False
        self.history.append(summary)
        self.rounds = max(1, self.rounds)  # rounds: 0 meant "the bootstrap's labels"; the model labels once instead
        self.log(f"self-training bootstrap: not used ({' and '.join(problems)} above), so the first part trains on "
                 f"the labels alone and the model labels the pool {self.rounds} time(s); {fix}")
        return summary

    def embed_descriptions(self, model) -> np.ndarray:
        """The label descriptions' sentence embeddings, in label order, as the embedding view's."""
        from ...evaluation.predict import embed_texts
        from ...models import backbone_of

        texts = [self.config.label_descriptions[name] for name in self.task.labels]
        return embed_texts(backbone_of(model), self.task.tokenizer, texts, max_length=self.task.max_length,
                           progress=False)

    def bootstrap_views(self, model, labeled, train_dataset) -> dict:
        """view name -> (labeled rows, pool rows), or None where the view cannot be built."""
        from ...evaluation.predict import embed_features
        from ...models import backbone_of

        if self.given_views is not None:
            return {name: self.given_views[name] for name in self.config.bootstrap_views}
        views = {}
        if "embedding" in self.config.bootstrap_views:
            self.log(f"self-training bootstrap: embedding {len(labeled) + len(self.pool)} texts")
            body, tokenizer = backbone_of(model), self.task.tokenizer
            views["embedding"] = (embed_features(body, tokenizer, train_dataset.features, progress=False),
                                  embed_features(body, tokenizer, self.task.encode(self.pool).features, progress=False))
        if "lexical" in self.config.bootstrap_views:
            words = lexical_features([e.text for e in labeled + self.pool])
            views["lexical"] = None if words is None else (words[:len(labeled)], words[len(labeled):])
        return views

    def keep(self, targets, confidence, classes, fraction: float, summary: dict) -> dict:
        """Select the pseudo labels to train on from the teacher's (or clusters') probabilities."""
        c = self.config
        n = len(targets)
        rows = pseudo_label_rows(c, classes, confidence, self.prior, fraction, len(self.task.labels))
        if self.task.independent_labels:  # label sets: each label its own yes/no
            self.targets = [independent_targets(t, c.soft, c.temperature) for t in targets]
        else:
            self.targets = [sharpen_rows(t, c.temperature) if c.soft else one_hot_rows(t) for t in targets]
        self.selected = sorted(rows.tolist())
        summary.update({"pseudo_labels": len(rows), "pool": n, "above_threshold": int((confidence >= c.threshold).sum()),
                        "mean_confidence": round(float(confidence[rows].mean()), 4) if len(rows) else None})
        if self.task.independent_labels and len(rows):
            summary["per_label"] = dict(zip(self.task.labels, map(int, (torch.stack(
                [self.targets[r] for r in rows]) >= 0.5).sum(0).tolist())))
        if classes is not None:
            summary["per_class"] = dict(zip(self.task.labels, map(int, np.bincount(
                classes[rows], minlength=len(self.task.labels)))))
            if self.shares is None:
                self.shares = class_shares(classes, len(self.task.labels))
        self.history.append(summary)
        return summary

    def unlabeled_loss(self, model, unlabeled, step):
        rows = unlabeled.pop("pool_index").tolist()
        logits = model(**unlabeled).logits
        loss = independent_loss if self.task.independent_labels else positionwise_distillation
        return loss(logits, [self.targets[r] for r in rows]), {"pseudo_labels": len(self.selected)}


# Pseudo-label collapse: the teacher's predicted class shares over the pool moved this far (total
# variation distance) from those of the first labels; a model that took one class over the pool.
COLLAPSE_DRIFT = 0.3


def collapse_problem(first: np.ndarray | None, classes: np.ndarray, labels: list[str]) -> str | None:
    """Why the teacher's predictions of the pool (`classes`) look collapsed against the first pool
    labels' class shares (`first`; None: these are the first), or None."""
    if first is None:
        return None
    now = class_shares(classes, len(labels))
    drift = shift(first, now)
    if drift <= COLLAPSE_DRIFT:
        return None
    top = int(now.argmax())
    return (f"the predicted class shares drifted {drift:.2f} (> {COLLAPSE_DRIFT}) from the first labels'; "
            f"{labels[top]!r} now takes {now[top]:.0%} of the pool (was {first[top]:.0%})")


def bootstrap_share(rounds: int) -> float:
    """The most of the pool the bootstrap labels: round 1's share, or all of it when the model
    never labels again (rounds: 0)."""
    return 1 / max(1, rounds)


def pseudo_label_rows(options: SelfTrainingOptions, classes: np.ndarray | None, confidence: np.ndarray,
                      prior: list[float] | None, fraction: float, n_labels: int) -> np.ndarray:
    """The pool rows to train on: at least `options.threshold` sure, the surest first, at most
    `fraction` of the pool; per class in the labeled proportions (`prior`) when balanced."""
    n = len(confidence)
    if classes is None:  # rows without one class (tagged windows): the surest, up to `fraction` of the pool
        return select_balanced(np.zeros(n, dtype=int), confidence, options.threshold, [math.ceil(n * fraction)])
    caps = class_caps(n, prior, fraction) if options.balance else [n] * n_labels
    return select_balanced(classes, confidence, options.threshold, caps)


def one_hot_rows(probs: torch.Tensor) -> torch.Tensor:
    """Argmax as one-hot, per row; all-zero rows (no prediction there) stay zero."""
    return torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).float() * (probs.sum(-1, keepdim=True) > 0)


def sharpen_rows(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    scored = probs.sum(-1, keepdim=True) > 0
    return torch.where(scored, sharpen(probs.clamp_min(1e-12), temperature), torch.zeros_like(probs))


class _Rounds(TrainerCallback):
    def __init__(self, method: SelfTraining):
        self.method = method

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        passed = [s for s in self.method.round_steps() if s <= state.global_step]
        if passed:  # resumed after a labelling round: label again before going on
            self.method.label_pool(model, len(passed))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        m = self.method
        if m.teacher is not None:
            m.teacher.update(model)
        steps = m.round_steps()
        if state.global_step in steps:  # global_step only grows: each round runs once
            m.label_pool(model, steps.index(state.global_step) + 1)
