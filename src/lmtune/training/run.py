"""`lmtune train`: config -> data -> backbone -> task -> method -> Trainer -> run dir."""
from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts as art
from ..config import RunConfig
from ..data import DataBundle, prepare_data
from ..device import choose_precision
from ..errors import ConfigError
from ..evaluation.predict import predict_proba
from ..evaluation.report import classification_metrics, save_confusion_png
from ..methods import get_method
from ..models import load_tokenizer, resolve_backbone
from ..tasks import get_task
from ..tasks.classification import init_head_from_prototypes
from .trainer import MethodTrainer


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    data: DataBundle
    seconds: float


def default_run_dir(cfg: RunConfig) -> Path:
    source = cfg.data.builtin or Path(cfg.data.train).stem
    return Path("runs") / f"{source}-{cfg.task}"


def train(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(), progress: bool = True,
          log=print) -> TrainResult:
    """Train, keep the best model, evaluate on dev and test, write the run dir."""
    from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

    started = time.time()
    run_dir = Path(cfg.output_dir) if cfg.output_dir else default_run_dir(cfg)
    _prepare_run_dir(run_dir, resume, overwrite)
    set_seed(cfg.seed)

    data = prepare_data(cfg.data, cfg.seed)
    if data.rejects:
        art.write_json_lines(run_dir / art.REJECTS_FILE, [r.__dict__ for r in data.rejects])
        log(f"skipped {len(data.rejects)} bad rows (on_bad_rows=skip); see {run_dir / art.REJECTS_FILE}")
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
    checkpoint = art.last_complete_checkpoint(run_dir) if resume else None
    if cfg.model.head_init == "prototype" and fresh and checkpoint is None:
        init_head_from_prototypes(model, train_ds, task.collator())
        log("classifier head initialised from the class means of the labeled examples")

    precision = choose_precision(cfg.training.precision)
    log(f"precision: {precision.precision} on {precision.device} ({precision.reason})")
    t = cfg.training
    steps_per_epoch = math.ceil(len(train_ds) / (t.batch_size * t.gradient_accumulation_steps))
    total_steps = t.max_steps or math.ceil(steps_per_epoch * t.epochs)
    use_dev = dev_ds is not None
    args = TrainingArguments(
        output_dir=str(run_dir / art.CHECKPOINTS),
        num_train_epochs=t.epochs, max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
        lr_scheduler_type="linear", warmup_steps=math.ceil(total_steps * t.warmup),
        eval_strategy="epoch" if use_dev else "no", save_strategy="epoch",
        save_total_limit=t.save_total_limit, load_best_model_at_end=use_dev,
        metric_for_best_model=t.metric if use_dev else None,
        greater_is_better=task.metrics[t.metric] if use_dev else None,
        logging_steps=t.logging_steps, report_to=["tensorboard"],
        seed=cfg.seed, data_seed=cfg.seed,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        use_cpu=precision.device == "cpu", disable_tqdm=not progress,
        **precision.trainer_kwargs(),
    )
    callbacks = list(callbacks)
    if use_dev and t.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))

    art.atomic_write(run_dir / art.CONFIG_FILE, cfg.to_yaml())
    art.write_json(run_dir / art.VERSIONS_FILE, art.library_versions())
    art.write_json(run_dir / art.DATA_FILE, data.summary())
    run_info = {"status": "running", "task": cfg.task, "labels": data.labels, "method": cfg.method.name,
                "backbone": cfg.model.name, "newly_initialised": fresh,
                "precision": {"chosen": precision.precision, "device": precision.device, "reason": precision.reason,
                              "cpu": precision.cpu_name, "cpu_flags": precision.cpu_flags}}
    art.write_json(run_dir / art.RUN_FILE, run_info)

    os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / art.TENSORBOARD)
    trainer = MethodTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds,
                            data_collator=task.collator(), processing_class=tokenizer,
                            compute_metrics=task.compute_metrics if use_dev else None,
                            callbacks=callbacks, method=method)
    if checkpoint:
        log(f"resuming from {checkpoint}")
    elif resume:
        log("no complete checkpoint to resume from: starting from the beginning")
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
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
    art.write_json(run_dir / art.METRICS_FILE, metrics)
    art.write_json(run_dir / art.RUN_FILE, {**run_info, "status": "complete", "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return TrainResult(run_dir, metrics, data, metrics["wall_seconds"])


def evaluate_examples(model, tokenizer, examples, labels: list[str], max_length: int, batch_size: int = 64, *,
                      progress: bool = True, precision: str = "fp32") -> dict:
    label2id = {lb: i for i, lb in enumerate(labels)}
    probs = predict_proba(model, tokenizer, [ex.text for ex in examples], max_length=max_length,
                          batch_size=batch_size, progress=progress, desc="evaluate", precision=precision)
    return classification_metrics([label2id[ex.label] for ex in examples], probs.argmax(-1).tolist(), labels)


def _prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            shutil.rmtree(run_dir)
        elif not resume:
            raise ConfigError(f"run directory {run_dir} already holds a run",
                              fix="add --resume to continue it, --overwrite to replace it, or --set output_dir=NEW_DIR.")
    run_dir.mkdir(parents=True, exist_ok=True)
