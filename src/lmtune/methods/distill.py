"""Knowledge distillation: the labels' cross-entropy plus alpha x T^2 x KL from the teacher's
probabilities at temperature T to the student's on each drawn pool text (Hinton et al. 2015).
The teacher's logits come with the run (`lmtune distill` computes and caches them); T^2 keeps
the soft term's gradient the same size whatever T is."""
from __future__ import annotations

import torch

from ..errors import ConfigError
from . import register_method
from .pseudo_labels import distillation_loss, index_pool
from .semi import SemiSupervised


@register_method("distill")
class Distill(SemiSupervised):
    """Labeled cross-entropy + alpha x T^2 x KL to a teacher's softened probabilities on the pool."""

    def prepare(self, run):
        if run.pool_logits is None:
            raise ConfigError("method distill learns from a teacher's predictions on the pool, and this run has none",
                              fix="run it as `lmtune distill TEACHER_RUN --student ...` (it labels the pool with the "
                                  "teacher), or choose another method.")
        logits = torch.as_tensor(run.pool_logits, dtype=torch.float32)
        if len(logits) != len(run.pool):
            raise ValueError(f"{len(logits)} teacher rows for {len(run.pool)} pool texts")
        self.teacher_probs = torch.softmax(logits / self.config.temperature, dim=-1)

    def unlabeled_dataset(self, pool):
        return index_pool(super().unlabeled_dataset(pool))

    def unlabeled_loss(self, model, unlabeled, step):
        rows = unlabeled.pop("pool_index")
        t = self.config.temperature
        logits = model(**unlabeled).logits
        targets = self.teacher_probs[rows.cpu()].to(logits.device)
        return t * t * distillation_loss(logits.float() / t, targets), {}
