"""Method protocol: the training loss on a labeled batch (and, for semi-supervised methods, an
unlabeled batch). Each method's options are a pydantic `Config`, registered in lmtune.options
(torch-free, so a config is checked without building anything).

The trainer asks a method a few questions besides `loss` (all with do-nothing defaults):
how to encode the unlabeled pool and collate its batches, which extra modules train with the
model (an auxiliary head), which callbacks it needs (EMA teacher, pseudo-labelling rounds) and
which pool rows may be drawn right now.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch

from ..config import StrictModel


@dataclass
class Setup:
    """What a method is given once the model is built (and wrapped by peft), before the Trainer."""
    model: Any
    source: str               # the backbone
    pool: list                # the unlabeled examples (of the task's kind)
    labeled: list             # the labeled examples
    train_dataset: Any        # the labeled examples, encoded
    total_steps: int          # optimizer steps of the run (schedules need it)
    log: Callable[[str], None]
    # view name -> (labeled rows, pool rows) already computed for these examples (method auto's),
    # so a bootstrap does not embed the texts again
    views: dict | None = None
    class_weights: Any = None  # training.class_weights as a tensor, one weight per label (None: unweighted)
    # per pool text, what the recipe already knows of it (lmtune distill: the teacher's logits), or None
    pool_logits: Any = None


class Method:
    """Base class; subclasses register with @register_method(name)."""

    class Config(StrictModel):
        pass

    needs_unlabeled: ClassVar[bool] = False
    tasks: ClassVar[tuple[str, ...] | None] = None  # the tasks it applies to; None = every task
    # plugin methods (package.module:Class) may define check_options(config, task) ->
    # (option, problem, fix) | None; registered methods have theirs in lmtune.options

    def __init__(self, config: "Method.Config", task):
        self.config = config
        self.task = task
        self.total_steps = 1  # until setup
        self.log: Callable[[str], None] = lambda message: None
        self.class_weights: torch.Tensor | None = None

    @property
    def draws_unlabeled(self) -> bool:
        """Whether the trainer must draw unlabeled batches at all (alpha = 0 turns them off)."""
        return self.needs_unlabeled and getattr(self.config, "alpha", 1.0) > 0

    def loss(self, model, labeled: dict[str, Any], unlabeled: dict[str, Any] | None, step: int
             ) -> tuple[torch.Tensor, dict[str, float], Any]:
        """-> (loss to minimise, extra scalars to log, model outputs on the labeled batch)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- hooks for the trainer

    def setup(self, run: Setup) -> None:
        """Called once by the recipe, before the Trainer is built."""
        self.total_steps, self.log, self.class_weights = run.total_steps, run.log, run.class_weights
        self.prepare(run)

    def supervised_loss(self, outputs, labeled: dict[str, Any], reduction: str = "mean") -> torch.Tensor:
        """The loss on the labeled batch: the model's own, or cross-entropy weighted per class
        (training.class_weights); reduction "none": one value per row."""
        if reduction == "mean" and (self.class_weights is None or "labels" not in labeled):
            return outputs.loss
        logits = outputs.logits.float()
        weight = None if self.class_weights is None else self.class_weights.to(logits.device, torch.float32)
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labeled["labels"].view(-1),
                                                 weight=weight, ignore_index=-100, reduction=reduction)

    def prepare(self, run: Setup) -> None:
        """What a method builds before training (a bootstrap, a teacher, an auxiliary head)."""

    def unlabeled_dataset(self, pool: list):
        """The pool, encoded the way `loss` reads it (default: as the task encodes inputs)."""
        return self.task.encode(pool)

    def unlabeled_collator(self):
        return self.task.collator()

    def extra_modules(self) -> list[torch.nn.Module]:
        """Modules outside the model that train with it (not saved in the run dir)."""
        return []

    def callbacks(self) -> list:
        """TrainerCallbacks the method needs."""
        return []

    def drawable(self) -> list[int] | None:
        """Pool rows the next unlabeled batch may come from; None = all of them."""
        return None
