"""Plain supervised training."""
from __future__ import annotations

from . import register_method
from .base import Method


@register_method("supervised")
class Supervised(Method):
    """Cross-entropy (the task's own loss, or weighted per class) on labeled batches only."""

    def loss(self, model, labeled, unlabeled, step):
        outputs = model(**labeled)
        return self.supervised_loss(outputs, labeled), {}, outputs
