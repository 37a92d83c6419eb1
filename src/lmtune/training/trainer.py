"""The one trainer: transformers.Trainer with the loss delegated to a Method."""
from __future__ import annotations

from transformers import Trainer


class MethodTrainer(Trainer):
    """Trainer whose training loss comes from `method.loss`; evaluation stays the stock path."""

    def __init__(self, *args, method, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation / prediction: the task's own loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, logs, outputs = self.method.loss(model, inputs, None, self.state.global_step)
        if logs and self.state.global_step % max(self.args.logging_steps, 1) == 0:
            self.log(logs)
        return (loss, outputs) if return_outputs else loss
