"""Short trainings that leave no run dir: a stage before the run (contrastive pairs) or a model
trained only to be measured (cross_fit). Same trainer and options as a run, no checkpoints, no
evaluation, no trackers."""
from __future__ import annotations

import tempfile
from pathlib import Path

from transformers import PrinterCallback

from ..config import RunConfig
from ..methods.base import Method, Setup
from .common import optimizer_steps, training_arguments
from .trainer import MethodTrainer


def quiet(message: str) -> None:
    """A log that keeps the inner training's lines out of the run's log."""


def fit_in_memory(model, task, cfg: RunConfig, method: Method, examples: list, dataset):
    """`model` trained in place by `method` on the labeled `examples` (`dataset`: them encoded)
    under cfg.training; returns the model."""
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"report_to": [], "time_budget": None})})
    method.setup(Setup(model, cfg.model.name, [], examples, dataset, optimizer_steps(cfg, len(dataset)), quiet))
    with tempfile.TemporaryDirectory(prefix="lmtune-in-memory-") as scratch:
        args, _, _ = training_arguments(cfg, Path(scratch), len(dataset), select=None, progress=False, log=quiet,
                                        save_strategy="no", eval_strategy="no", logging_strategy="no")
        trainer = MethodTrainer(model=model, args=args, train_dataset=task.training_dataset(dataset),
                                data_collator=task.collator(), processing_class=task.tokenizer, method=method,
                                layer_lr_decay=cfg.training.layer_lr_decay)
        trainer.remove_callback(PrinterCallback)  # it prints the final train metrics to stdout
        trainer.train()
    return model
