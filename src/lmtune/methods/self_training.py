"""Self-training: label the pool with the model, keep the confident predictions (class-balanced),
train on them beside the labels, and label again, for several rounds.

The rounds run inside one training run: the steps are cut into rounds + 1 equal parts; the
first is supervised only, and at the end of each part the teacher (the student itself, or an
EMA of it) labels the whole pool again. Training continues from the current weights rather
than restarting, which costs one pool pass per round instead of one whole run.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from transformers import TrainerCallback

from . import register_method
from .pseudo_labels import EMATeacher, class_caps, select_balanced, sharpen, distillation_loss
from .semi import SemiConfig, SemiSupervised


@register_method("self-training")
class SelfTraining(SemiSupervised):
    """Pseudo-label the pool each round (confidence threshold, class balance), train on it; EMA teacher optional."""

    class Config(SemiConfig):
        alpha: float = Field(1.0, ge=0, description="weight of the pseudo-labeled loss")
        unlabeled_ratio: float = Field(1.0, gt=0, le=16)
        rounds: int = Field(2, ge=1, le=20, description="times the pool is labeled again")
        threshold: float = Field(0.7, ge=0, le=1, description="keep pseudo labels at least this confident")
        # per class at most round/rounds of the pool x the labeled class share: balanced classes,
        # and a curriculum (the most confident first, more each round)
        balance: bool = True
        soft: bool = Field(False, description="train on the teacher's probabilities instead of its argmax")
        temperature: float = Field(0.5, gt=0, le=1, description="sharpening of soft labels")
        teacher: Literal["student", "ema"] = "student"
        ema_decay: float = Field(0.99, gt=0, lt=1)

    def setup(self, model, source, texts, train_dataset):
        self.texts = texts
        self.teacher = EMATeacher(model, self.config.ema_decay) if self.config.teacher == "ema" else None
        counts = np.bincount([f["labels"] for f in train_dataset.features], minlength=len(self.task.labels))
        self.prior = (counts / counts.sum()).tolist()
        self.targets = torch.zeros((len(texts), len(self.task.labels)))
        self.selected: list[int] = []
        self.history: list[dict] = []

    def unlabeled_dataset(self, texts):
        ds = super().unlabeled_dataset(texts)
        for i, f in enumerate(ds.features):
            ds.features[i] = {**f, "pool_index": i}
        return ds

    def drawable(self):
        return self.selected

    def callbacks(self):
        return [_Rounds(self)]

    def round_steps(self) -> list[int]:
        parts = self.config.rounds + 1
        return sorted({max(1, round(self.total_steps * k / parts)) for k in range(1, parts)})

    @torch.no_grad()
    def label_pool(self, model, round_no: int) -> dict:
        """Predict the pool with the teacher, select pseudo labels; returns the round's summary."""
        from ..evaluation.predict import predict_proba

        was_training = model.training
        teacher = self.teacher.model if self.teacher is not None else model
        probs = predict_proba(teacher, self.task.tokenizer, self.texts, max_length=self.task.max_length,
                              progress=False)
        model.train(was_training)
        c = self.config
        caps = class_caps(len(self.texts), self.prior, round_no / c.rounds) if c.balance else [len(self.texts)] * len(self.prior)
        rows = select_balanced(probs, c.threshold, caps)
        p = torch.from_numpy(probs)
        self.targets = sharpen(p, c.temperature) if c.soft else torch.nn.functional.one_hot(
            p.argmax(1), p.shape[1]).float()
        self.selected = sorted(rows.tolist())
        per_class = np.bincount(probs[rows].argmax(1), minlength=len(self.prior)) if len(rows) else np.zeros(len(self.prior))
        summary = {"round": round_no, "pseudo_labels": len(rows), "pool": len(self.texts),
                   "above_threshold": int((probs.max(1) >= c.threshold).sum()),
                   "per_class": dict(zip(self.task.labels, map(int, per_class))),
                   "mean_confidence": round(float(probs[rows].max(1).mean()), 4) if len(rows) else None}
        self.history.append(summary)
        return summary

    def unlabeled_loss(self, model, unlabeled, step):
        rows = unlabeled.pop("pool_index").cpu()
        logits = model(**unlabeled).logits
        return distillation_loss(logits, self.targets[rows].to(logits.device)), {"pseudo_labels": len(self.selected)}


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
