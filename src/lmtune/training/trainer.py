"""The one trainer: transformers.Trainer with the loss delegated to a Method."""
from __future__ import annotations

from transformers import Trainer


class MethodTrainer(Trainer):
    """Trainer whose training loss comes from `method.loss`; evaluation stays the stock path.
    `layer_lr_decay` < 1 gives each layer its own learning rate (training/optim.py)."""

    def __init__(self, *args, method, layer_lr_decay: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.layer_lr_decay = layer_lr_decay

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation / prediction: the task's own loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss, logs, outputs = self.method.loss(model, inputs, None, self.state.global_step)
        if logs and self.state.global_step % max(self.args.logging_steps, 1) == 0:
            self.log(logs)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        if self.layer_lr_decay == 1.0 or self.optimizer is not None:
            return super().create_optimizer(model)
        from .optim import layerwise_groups

        model = model if model is not None else self.model
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        kwargs.pop("lr", None)  # each group carries its own
        groups = layerwise_groups(model, self.args.learning_rate, self.layer_lr_decay, self.args.weight_decay,
                                  set(self.get_decay_parameter_names(model)))
        self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **kwargs)
        return self.optimizer
