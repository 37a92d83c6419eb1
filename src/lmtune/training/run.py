"""`lmtune train`: config -> data -> backbone -> task -> method -> Trainer -> run dir."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts as art
from ..config import RunConfig
from ..data import DataBundle, prepare_data
from ..errors import ConfigError
from ..evaluation.predict import predict_proba
from ..evaluation.report import classification_metrics, save_confusion_png
from ..methods import get_method
from ..models import load_tokenizer, resolve_backbone
from ..tasks import get_task
from ..tasks.classification import init_head_from_prototypes
from .common import (begin_run, finish_records, fit, start_records, tensorboard_dir, training_arguments,
                     write_rejects)
from .trainer import MethodTrainer


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    data: DataBundle
    seconds: float


def train(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(), progress: bool = True,
          log=print) -> TrainResult:
    """Train, keep the best model, evaluate on dev and test, write the run dir."""
    started = time.time()
    run_dir = begin_run(cfg, cfg.task, resume, overwrite)
    data = prepare_data(cfg.data, cfg.seed)
    write_rejects(run_dir, data.rejects, log)
    log(f"data: {len(data.train)} labeled train, {len(data.dev)} dev, {len(data.test)} test, "
        f"{len(data.unlabeled)} unlabeled; {len(data.labels)} labels")

    tokenizer = load_tokenizer(cfg.model.name, cfg.model.revision)
    task = get_task(cfg.task)(data.labels, tokenizer, cfg.model.max_length)
    if cfg.training.metric not in task.metrics:
        raise ConfigError(f"training.metric {cfg.training.metric!r} is not a metric of task {cfg.task!r}",
                          fix=f"use one of {', '.join(task.metrics)}.")
    method_cls = get_method(cfg.method.name)
    method = method_cls(method_cls.Config.model_validate(cfg.method.options()), task)
    if method_cls.needs_unlabeled and not data.unlabeled:
        raise ConfigError(f"method {cfg.method.name!r} needs unlabeled text but there is none",
                          fix="set data.labels_per_class so the rest of the pool becomes unlabeled.")

    model, fresh = task.build_model(resolve_backbone(cfg.model.name), cfg.model.revision)
    if fresh:
        log(f"newly initialised weights (not in the backbone): {', '.join(fresh)}")
    train_ds = task.encode(data.train)
    dev_ds = task.encode(data.dev) if data.dev else None
    if cfg.model.head_init == "prototype" and fresh and not (resume and art.last_complete_checkpoint(run_dir)):
        init_head_from_prototypes(model, train_ds, task.collator())
        log("classifier head initialised from the class means of the labeled examples")

    t = cfg.training
    select = (t.metric, task.metrics[t.metric]) if dev_ds is not None else None
    args, stoppers, precision = training_arguments(cfg, run_dir, len(train_ds), select=select, progress=progress, log=log)
    run_info = start_records(cfg, run_dir, data.summary(), precision, labels=data.labels, method=cfg.method.name,
                             newly_initialised=fresh)
    tensorboard_dir(run_dir)
    trainer = MethodTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds,
                            data_collator=task.collator(), processing_class=tokenizer,
                            compute_metrics=task.compute_metrics if select else None,
                            callbacks=list(callbacks) + stoppers, method=method)
    fit(trainer, run_dir, resume, progress, log)
    train_seconds = time.time() - started

    art.save_model_atomic(trainer.model, tokenizer, run_dir)
    metrics = {"train_seconds": round(train_seconds, 1), "global_step": trainer.state.global_step,
               "epochs": trainer.state.epoch, "best_checkpoint": trainer.state.best_model_checkpoint}
    for split, examples in (("dev", data.dev), ("test", data.test)):
        if examples:
            metrics[split] = evaluate_examples(trainer.model, tokenizer, examples, data.labels, cfg.model.max_length,
                                               t.eval_batch_size, progress=progress, precision=precision.precision)
    shown = "test" if data.test else "dev" if data.dev else None
    if shown:
        save_confusion_png(metrics[shown]["confusion_matrix"], data.labels, run_dir / "confusion_matrix.png",
                           f"{shown} confusion matrix")
    metrics["wall_seconds"] = round(time.time() - started, 1)
    finish_records(run_dir, run_info, metrics, t.keep_checkpoints)
    return TrainResult(run_dir, metrics, data, metrics["wall_seconds"])


def evaluate_examples(model, tokenizer, examples, labels: list[str], max_length: int, batch_size: int = 64, *,
                      progress: bool = True, precision: str = "fp32") -> dict:
    label2id = {lb: i for i, lb in enumerate(labels)}
    probs = predict_proba(model, tokenizer, [ex.text for ex in examples], max_length=max_length,
                          batch_size=batch_size, progress=progress, desc="evaluate", precision=precision)
    return classification_metrics([label2id[ex.label] for ex in examples], probs.argmax(-1).tolist(), labels)
