"""The one trainer: transformers.Trainer with the loss delegated to a Method."""
from __future__ import annotations

from transformers import Trainer

from .unlabeled import UnlabeledStream


class MethodTrainer(Trainer):
    """Trainer whose training loss comes from `method.loss`; evaluation stays the stock path.

    With an `unlabeled` pool, each training step also draws the method's `unlabeled_ratio` x batch_size
    unlabeled examples for the method. `layer_lr_decay` < 1 gives each layer its own learning
    rate (training/optim.py); `sample_weights` draw the training examples with those weights
    (with replacement) instead of shuffling them. The method's extra modules (an auxiliary head) train in their own
    optimizer group."""

    def __init__(self, *args, method, layer_lr_decay: float = 1.0, unlabeled=None,
                 sample_weights: list[float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.sample_weights = sample_weights  # training.sampler: balanced (training/balance.py)
        self.layer_lr_decay = layer_lr_decay
        for module in method.extra_modules():  # built beside the model, which the Trainer has just placed
            module.to(self.args.device)
        self.unlabeled = None
        if unlabeled is not None and method.draws_unlabeled:
            rank = self.args.process_index
            size = max(1, round(self.args.per_device_train_batch_size * method.config.unlabeled_ratio))
            self.unlabeled = UnlabeledStream(unlabeled, size, method.unlabeled_collator(), self.args.seed + 7919 * rank)

    def _get_train_sampler(self, train_dataset=None):
        if self.sample_weights is None:
            return super()._get_train_sampler(train_dataset)
        import torch

        return torch.utils.data.WeightedRandomSampler(self.sample_weights, num_samples=len(self.sample_weights),
                                                      replacement=True,
                                                      generator=torch.Generator().manual_seed(self.args.seed))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not model.training:  # evaluation / prediction: the task's own loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        batch = self.unlabeled.next(self.method.drawable()) if self.unlabeled is not None else None
        if batch is not None:
            batch = self._prepare_inputs(batch)
        loss, logs, outputs = self.method.loss(model, inputs, batch, self.state.global_step)
        if logs and self.state.global_step % max(self.args.logging_steps, 1) == 0:
            self.log(logs)
        return (loss, outputs) if return_outputs else loss

    def create_optimizer(self, model=None):
        if self.optimizer is not None:
            return self.optimizer
        if self.layer_lr_decay == 1.0:
            super().create_optimizer(model)
        else:
            from .optim import layerwise_groups

            model = model if model is not None else self.model
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            kwargs.pop("lr", None)  # each group carries its own
            groups = layerwise_groups(model, self.args.learning_rate, self.layer_lr_decay, self.args.weight_decay,
                                      set(self.get_decay_parameter_names(model)))
            self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **kwargs)
        seen = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        extra = [p for m in self.method.extra_modules() for p in m.parameters() if p.requires_grad and id(p) not in seen]
        if extra:
            self.optimizer.add_param_group({"params": list({id(p): p for p in extra}.values()),
                                            "weight_decay": self.args.weight_decay, "lr": self.args.learning_rate})
        return self.optimizer

