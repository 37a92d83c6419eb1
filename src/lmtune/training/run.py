"""`lmtune train`: config -> data -> backbone -> task -> method -> Trainer -> run dir."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts as art
from ..config import RunConfig
from ..data import DataBundle, prepare_data
from ..errors import ConfigError
from ..methods import build_method
from ..models import config_overrides, load_tokenizer, resolve_backbone
from ..tasks import get_task
from .common import (begin_run, finish_records, fit, is_main_process, make_trainable, optimizer_steps, start_records,
                     tensorboard_dir, training_arguments, write_rejects)
from .peft import merged, needs_budget_callback
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
    run_dir, log = begin_run(cfg, cfg.task, resume, overwrite, log)
    task_cls = get_task(cfg.task)
    data = prepare_data(cfg.data, cfg.seed, task_cls, cfg.task_options)
    write_rejects(run_dir, data.rejects, log)
    for warning in data.warnings[:5]:
        log(f"warning: {warning}")
    if len(data.warnings) > 5:
        log(f"... {len(data.warnings) - 5} more warnings of that kind")
    log(f"data: {len(data.train)} labeled train, {len(data.dev)} dev, {len(data.test)} test, "
        f"{len(data.unlabeled)} unlabeled; {len(data.labels)} labels")

    tokenizer = load_tokenizer(cfg.model.name, cfg.model.revision)
    task = task_cls(data.labels, tokenizer, cfg.model.max_length, cfg.task_options)
    metric = cfg.training.metric or next(iter(task.metrics))
    if metric not in task.metrics:
        raise ConfigError(f"training.metric {cfg.training.metric!r} is not a metric of task {cfg.task!r}",
                          fix=f"use one of {', '.join(task.metrics)}.")
    method = build_method(cfg, task)
    if method.needs_unlabeled and not data.unlabeled:
        raise ConfigError(f"method {cfg.method.name!r} learns from unlabeled text, but the data has none",
                          fix="set data.unlabeled to a file of raw text, or data.labels_per_class (or data.labeled_size) "
                              "so the rest of the labeled pool becomes unlabeled; or use method.name: supervised.")

    source = resolve_backbone(cfg.model.name)
    model, fresh = task.build_model(source, cfg.model.revision,
                                    **config_overrides(source, cfg.model.revision, cfg.model.attention_dropout))
    if fresh:
        log(f"newly initialised weights (not in the backbone): {', '.join(fresh)}")
    train_ds = task.encode(data.train)
    train_set = task.training_dataset(train_ds)  # what the trainer draws (generation may pack examples)
    dev_ds = task.encode(data.dev).by_length() if data.dev else None
    for warning in task.warnings:
        log(f"warning: {warning}")
    if fresh and not (resume and art.last_complete_checkpoint(run_dir)):
        done = task.init_head(model, train_ds, cfg.model.head_init)
        if done:
            log(done)

    t = cfg.training
    model, trainable, extra_callbacks = make_trainable(model, cfg, task_type=task.peft_task_type,
                                                       head=task.head_modules(model), n_train=len(train_set), log=log)
    pool, unlabeled_ds = data.unlabeled, None
    method.total_steps = optimizer_steps(cfg, len(train_set))
    method.log = log
    if method.needs_unlabeled:
        method.setup(model, source, pool, data.train, train_ds)
        if method.draws_unlabeled:
            unlabeled_ds = method.unlabeled_dataset(pool)
            log(f"method {cfg.method.name}: {len(pool)} unlabeled texts, "
                f"{method.config.unlabeled_ratio:g} drawn per labeled example in each step, alpha {method.config.alpha:g}")
    select = (metric, task.metrics[metric]) if dev_ds is not None else None
    if select and needs_budget_callback(model):
        select = None  # checkpoints of different epochs have different ranks: none can be loaded into the last
        log("AdaLoRA prunes ranks while it trains, so the last epoch is kept: no best-epoch selection or early "
            "stopping (the dev set is still scored at the end)")
    args, stoppers, precision = training_arguments(cfg, run_dir, len(train_set), select=select, progress=progress, log=log)
    run_info = start_records(cfg, run_dir, data.summary(), precision, labels=data.labels, method=cfg.method.name,
                             newly_initialised=fresh, **trainable)
    tensorboard_dir(run_dir)
    trainer = MethodTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=dev_ds,
                            data_collator=task.collator(), processing_class=tokenizer,
                            compute_metrics=task.compute_metrics if select else None,
                            callbacks=list(callbacks) + stoppers + extra_callbacks + method.callbacks(), method=method,
                            layer_lr_decay=t.layer_lr_decay, unlabeled=unlabeled_ds)
    speed = fit(trainer, run_dir, resume, progress, log)
    train_seconds = time.time() - started
    if not is_main_process():  # rank 0 saves and scores the model all ranks trained
        return TrainResult(run_dir, {}, data, round(train_seconds, 1))

    art.save_model_atomic(trainer.model, tokenizer, run_dir)
    metrics = {"train_seconds": round(train_seconds, 1), "global_step": trainer.state.global_step,
               "epochs": trainer.state.epoch, "best_checkpoint": trainer.state.best_model_checkpoint, **speed}
    # adapters folded into the weights: what `load_run` serves, and faster
    scores, extra = task.score_held_out(merged(trainer.model), data, cfg, precision, progress, log, run_dir)
    metrics.update(scores)
    run_info.update(extra)
    if getattr(method, "history", None):
        run_info["pseudo_label_rounds"] = method.history
    metrics["wall_seconds"] = round(time.time() - started, 1)
    finish_records(run_dir, run_info, metrics, t.keep_checkpoints)
    return TrainResult(run_dir, metrics, data, metrics["wall_seconds"])

