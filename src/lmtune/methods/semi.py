"""The semi-supervised loss: L = L_s + alpha(t) * L_u, the shared part of every method that
learns from unlabeled text. Subclasses define only `unlabeled_loss`."""
from __future__ import annotations

import math

import torch

from ..options.methods import SemiConfig
from .base import Method


class SemiSupervised(Method):
    """Base class: labeled loss (optionally annealed) + alpha x the subclass's unlabeled loss."""

    Config = SemiConfig
    needs_unlabeled = True

    def unlabeled_loss(self, model, unlabeled: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def alpha_at(self, step: int) -> float:
        c = self.config
        ramp = c.ramp_up * self.total_steps
        return c.alpha * (min(1.0, step / ramp) if ramp > 0 else 1.0)

    def labeled_loss(self, outputs, labeled: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        if self.config.tsa == "none" or "labels" not in labeled:
            return self.supervised_loss(outputs, labeled), {}
        logits = outputs.logits.float()
        k = logits.shape[-1]
        progress = min(1.0, step / self.total_steps)
        schedule = {"linear": progress, "exp": math.exp((progress - 1) * 5), "log": 1 - math.exp(-progress * 5)}
        threshold = schedule[self.config.tsa] * (1 - 1 / k) + 1 / k
        per_row = torch.nn.functional.cross_entropy(logits, labeled["labels"], reduction="none")
        keep = (torch.exp(-per_row) <= threshold).float().detach()  # p(correct) <= threshold stays in
        if self.class_weights is not None:
            per_row = self.supervised_loss(outputs, labeled, reduction="none")
        return (per_row * keep).sum() / keep.sum().clamp_min(1), {"tsa_threshold": round(threshold, 4),
                                                                 "tsa_kept": round(float(keep.mean()), 4)}

    def loss(self, model, labeled, unlabeled, step):
        outputs = model(**labeled)
        supervised, logs = self.labeled_loss(outputs, labeled, step)
        logs["supervised_loss"] = round(float(supervised.detach()), 4)
        alpha = self.alpha_at(step)
        if unlabeled is None or alpha == 0:
            return supervised, logs, outputs
        u_loss, u_logs = self.unlabeled_loss(model, unlabeled, step)
        logs.update(u_logs, unlabeled_loss=round(float(u_loss.detach()), 4), alpha=round(alpha, 4))
        return supervised + alpha * u_loss, logs, outputs
