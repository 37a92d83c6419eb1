"""What every lmtune training entry point shares: the run dir, TrainingArguments, the Trainer
call with resume, and the run records written before and after."""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .. import artifacts as art
from ..config import RunConfig
from ..device import PrecisionChoice, choose_precision
from ..errors import ConfigError
from ..models import resolve_backbone

if TYPE_CHECKING:
    from transformers import TrainingArguments


def is_main_process() -> bool:
    """torchrun and accelerate launch set RANK: only rank 0 writes the run dir and logs. The
    other ranks reach the run dir only through the Trainer's checkpoints, which need a collective
    step with rank 0 first, so rank 0 has always claimed the directory by then."""
    return int(os.environ.get("RANK", "0")) == 0


def release_process_group() -> None:
    """Under torchrun, every rank waits here until rank 0 has saved and scored the model, then
    all tear the process group down together. A rank that left alone while rank 0 scored was
    seen to abort at interpreter exit (SIGABRT), and to hang when it tore its group down alone;
    either way torchrun failed a finished run. A no-op in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def begin_run(cfg: RunConfig, kind: str, resume: bool, overwrite: bool, log) -> tuple[Path, Callable[[str], None]]:
    """Seed everything and claim the run dir (`output_dir`, or runs/<data source>-<kind>).
    Returns it and the log to use: `log` on rank 0, silence on the others."""
    from transformers import set_seed

    run_dir = Path(cfg.output_dir) if cfg.output_dir else \
        Path("runs") / f"{cfg.data.builtin or Path(cfg.data.train).stem}-{kind}"
    if is_main_process():
        prepare_run_dir(run_dir, resume, overwrite)
    set_seed(cfg.seed)
    return run_dir, log if is_main_process() else (lambda message: None)


def write_rejects(run_dir: Path, rejects: list, log) -> None:
    """Rows that were not used go to a file and are counted on screen: never dropped silently."""
    if rejects and is_main_process():
        art.write_json_lines(run_dir / art.REJECTS_FILE, [r.__dict__ for r in rejects])
        log(f"skipped {len(rejects)} rows; see {run_dir / art.REJECTS_FILE}")


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            art.remove_replaceable(run_dir)
        elif not resume:
            raise ConfigError(f"run directory {run_dir} already holds a run",
                              fix="add --resume to continue it, --overwrite to replace it, or --set output_dir=NEW_DIR.")
        elif _saved(run_dir / art.RUN_FILE, {}).get("status") == "complete":
            raise ConfigError(f"run directory {run_dir} holds a complete run: there is nothing to resume",
                              fix="use --overwrite to train it again, or --set output_dir=NEW_DIR for a new run.")
    run_dir.mkdir(parents=True, exist_ok=True)


def saved_config(run_dir: Path) -> dict | None:
    """The resolved config a run dir was started with, as written (None where it has none)."""
    import yaml

    return _saved(run_dir / art.CONFIG_FILE, None, yaml.safe_load)


def check_resumable(run_dir: Path, cfg: RunConfig, data_summary: dict, anyway: bool, log) -> None:
    """A resumed run must continue the same training: the config and the data files it was
    started with (its records), or the checkpoint's optimizer state and learning-rate schedule
    would carry on under settings they were not made for. Refused with the differences named,
    unless `anyway` (then they are logged)."""
    saved = saved_config(run_dir)
    changed = [] if saved is None else [
        f"{key}: {before!r} -> {after!r}" for key, before, after in differences(saved, cfg.model_dump(mode="json"))]
    prints = _saved(run_dir / art.DATA_FILE, {}).get("fingerprints")
    now = data_summary.get("fingerprints")
    if prints is not None and now is not None:
        changed += [f"data file {name}: {'changed' if name in prints and name in now else 'added' if name in now else 'gone'}"
                    for name in sorted(set(prints) | set(now)) if prints.get(name) != now.get(name)]
    if not changed:
        return
    listing = "; ".join(changed[:8]) + (f"; +{len(changed) - 8} more" if len(changed) > 8 else "")
    if anyway:
        log(f"resuming anyway, with these differences from the interrupted run: {listing}")
        return
    raise ConfigError(f"--resume would continue {run_dir} under other settings than it was started with: {listing}",
                      fix="put the old settings (and data) back, start again with --overwrite, or pass --resume-anyway "
                          "to continue with the checkpoint's optimizer state and learning-rate schedule.")


def differences(before: dict, after: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, old value, new value) wherever two nested dicts differ."""
    out = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += differences(old, new, f"{prefix}{key}.")
        elif old != new:
            out.append((f"{prefix}{key}", old, new))
    return out


def _saved(path: Path, default, parse=None):
    """A record of the run dir, or `default` where it is missing or unreadable (a killed write)."""
    import json

    try:
        return (parse or json.loads)(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def training_arguments(cfg: RunConfig, run_dir: Path, n_train: int, *, select: tuple[str, bool] | None,
                       progress: bool, log, started: float | None = None, **overrides
                       ) -> tuple["TrainingArguments", list, PrecisionChoice]:
    """TrainingArguments from the config. `select` = (metric, greater_is_better) when there is a dev
    set to evaluate each epoch, keep the best checkpoint and stop early on; None trains blind.
    `overrides` are passed to TrainingArguments as they are; `started`: time.time() at the start
    of the run, from which training.time_budget counts (default: now)."""
    from transformers import EarlyStoppingCallback, TrainingArguments

    precision = choose_precision(cfg.training.precision)
    log(f"precision: {precision.precision} on {precision.device} ({precision.reason})")
    t = cfg.training
    total_steps = optimizer_steps(cfg, n_train)
    # without a dev set nothing selects an epoch: checkpoints only serve a resume, on a clock
    timed = not select and t.checkpoint_minutes > 0
    schedule = {"eval_strategy": "no", "save_strategy": "no"} if timed else \
        checkpoint_schedule(cfg, n_train, bool(select), log)
    settings = dict(
        output_dir=str(run_dir / art.CHECKPOINTS),
        num_train_epochs=t.epochs, max_steps=t.max_steps or -1,
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
        lr_scheduler_type="linear", warmup_steps=math.ceil(total_steps * t.warmup),
        **schedule,
        save_total_limit=t.save_total_limit, load_best_model_at_end=bool(select),
        metric_for_best_model=select[0] if select else None, greater_is_better=select[1] if select else None,
        logging_steps=t.logging_steps, report_to=trackers(t.report_to, run_dir, log),
        seed=cfg.seed, data_seed=cfg.seed,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        use_cpu=precision.device == "cpu", disable_tqdm=not progress,
        torch_compile=t.compile,
        ddp_find_unused_parameters=False,  # True costs an extra autograd pass per step; every weight is used
        **precision.trainer_kwargs(),
    )
    args = TrainingArguments(**{**settings, **overrides})  # an override may replace a scheduled setting
    callbacks = []
    if select and t.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=t.early_stopping_patience))
    if timed:
        from .checkpoints import TimedCheckpoints

        callbacks.append(TimedCheckpoints(t.checkpoint_minutes * 60))
    if t.time_budget:
        from .time_budget import TimeBudget, training_deadline

        callbacks.append(TimeBudget(training_deadline(started or time.time(), t.time_budget), t.time_budget, log))
    return args, callbacks, precision


_DEFAULT_STORE = [""]  # the tracking URI trackers() set itself, if any (a user's own is never replaced)


def trackers(report_to: list[str], run_dir: Path, log) -> list[str]:
    """training.report_to for the Trainer. mlflow without MLFLOW_TRACKING_URI logs to a local
    file store beside the run dirs (runs/mlruns: `mlflow ui --backend-store-uri runs/mlruns`),
    so tracking works offline; its package is checked here, not deep inside the Trainer."""
    import importlib.util

    missing = [name for name, module in (("mlflow", "mlflow"), ("wandb", "wandb"), ("trackio", "trackio"))
               if name in report_to and importlib.util.find_spec(module) is None]
    if missing:
        raise ConfigError(f"training.report_to names {', '.join(missing)}, which is not installed",
                          fix="pip install 'lmtune[tracking]' (mlflow), or the tracker's own package; or drop it.")
    if "mlflow" in report_to and os.environ.get("MLFLOW_TRACKING_URI", _DEFAULT_STORE[0]) == _DEFAULT_STORE[0]:
        store = (Path(run_dir).resolve().parent / "mlruns")
        os.environ["MLFLOW_TRACKING_URI"] = _DEFAULT_STORE[0] = store.as_uri()  # ours: the next run may move it
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # a local file store: no server, no database
        os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", "lmtune")
        log(f"mlflow: logging to {store} (set MLFLOW_TRACKING_URI for a server)")
    return list(report_to)


def steps_per_epoch(cfg: RunConfig, n_train: int) -> int:
    t = cfg.training
    # batch_size is per process: with N processes an optimizer step sees N x batch_size examples
    return math.ceil(n_train / (t.batch_size * t.gradient_accumulation_steps * world_size()))


def optimizer_steps(cfg: RunConfig, n_train: int) -> int:
    """Optimizer steps the run will take (warmup and AdaLoRA's budget schedule need it)."""
    return cfg.training.max_steps or math.ceil(steps_per_epoch(cfg, n_train) * cfg.training.epochs)


MAX_EVALUATIONS = 20
# Epochs of fewer optimizer steps than this (a few labels) are too short to judge a model by: the
# first dev evaluation waits for EVAL_DELAY of the planned steps, so neither early stopping
# (patience 3 evaluations = a few steps) nor best-epoch selection acts on a model still warming up
SHORT_EPOCH_STEPS = 10
EVAL_DELAY = 1 / 3


def checkpoint_schedule(cfg: RunConfig, n_train: int, evaluate: bool, log) -> dict:
    """Evaluate (when there is a dev set) and checkpoint at the end of every epoch, or of every
    k-th epoch when a run has more than MAX_EVALUATIONS epochs: a few labeled examples make
    epochs of a step or two, and scoring the dev set after each would cost more than training.
    (Without a dev set training_arguments times the checkpoints instead, unless
    training.checkpoint_minutes is 0.) Where epochs are short (few labels), the first dev
    evaluation waits for a third of the run (EVAL_DELAY)."""
    per_epoch = steps_per_epoch(cfg, n_train)
    total = optimizer_steps(cfg, n_train)
    epochs = total / per_epoch
    delayed = evaluate and per_epoch < SHORT_EPOCH_STEPS and epochs >= 3
    if epochs <= MAX_EVALUATIONS:
        schedule = {"eval_strategy": "epoch" if evaluate else "no", "save_strategy": "epoch"}
        if delayed:
            schedule["eval_delay"] = math.floor(epochs * EVAL_DELAY)
    else:
        every = math.ceil(epochs / MAX_EVALUATIONS)
        log(f"{epochs:.0f} epochs of {per_epoch} steps: {'dev evaluation and ' if evaluate else ''}checkpoints every "
            f"{every} epochs ({every * per_epoch} steps), at most {MAX_EVALUATIONS} in all")
        schedule = {"eval_strategy": "steps" if evaluate else "no", "eval_steps": every * per_epoch,
                    "save_strategy": "steps", "save_steps": every * per_epoch}
        if delayed:
            schedule["eval_delay"] = math.floor(total * EVAL_DELAY)
    if delayed:
        unit = "epochs" if schedule["eval_strategy"] == "epoch" else "steps"
        log(f"epochs of {per_epoch} steps: the dev set is first scored after {schedule['eval_delay']} {unit} (a third "
            "of the run), so early stopping and best-epoch selection judge a trained model, not its first steps")
    return schedule


def make_trainable(model, cfg: RunConfig, *, task_type: str | None, head: list[str], n_train: int, log
                   ) -> tuple[object, dict, list]:
    """Choose what trains: peft adapters (+ head) or the freezing strategy. Returns the model
    (wrapped by peft when configured), the records for the run file, and callbacks to add."""
    from .freezing import apply_freezing, parameter_counts
    from .peft import adaptive_budget_callback, apply_peft, needs_budget_callback

    t, records, callbacks = cfg.training, {}, []
    if cfg.peft:
        model = apply_peft(model, cfg.peft, task_type, total_steps=optimizer_steps(cfg, n_train), head=head)
        params = parameter_counts(model)
        base = Path(resolve_backbone(cfg.model.name, cfg.model.revision))
        records["peft"] = {"method": cfg.peft.method, "options": cfg.peft.options(), "base": cfg.model.name,
                           "base_path": str(base.resolve()) if base.is_dir() else None,
                           "revision": cfg.model.revision, "modules_to_save": head}
        what = f"peft: {cfg.peft.method}" + (f", head {', '.join(head)} trained fully" if head else "")
        if needs_budget_callback(model):
            callbacks.append(adaptive_budget_callback())
    else:
        params = apply_freezing(model, t.freeze)
        what = f"training.freeze: {t.freeze}"
    log(f"trainable parameters: {params['trainable']:,} of {params['total']:,} "
        f"({params['trainable'] / params['total']:.1%}; {what})")
    records["parameters"] = params
    if t.layer_lr_decay < 1:
        records["layer_lr_decay"] = t.layer_lr_decay
        log(f"layer-wise learning-rate decay {t.layer_lr_decay}: the lowest layers train slowest")
    if cfg.adversarial:
        from ..methods.adversarial import get_attack

        attack_cls = get_attack(cfg.adversarial.name)
        passes = attack_cls(attack_cls.Config.model_validate(cfg.adversarial.options())).passes()
        records["adversarial"] = {"name": cfg.adversarial.name, **cfg.adversarial.options(),
                                  "forward_passes_per_step": passes}
        log(f"adversarial training ({cfg.adversarial.name}): {passes} forward passes per step instead of 1")
    return model, records, callbacks


def start_records(cfg: RunConfig, run_dir: Path, data_summary: dict, precision: PrecisionChoice, **info) -> dict:
    """Resolved config, versions, data summary, and a run file with status 'running' (rank 0 writes)."""
    import torch

    run_info = {"status": "running", "task": cfg.task, "backbone": cfg.model.name, **info,
                "precision": {"chosen": precision.precision, "device": precision.device, "reason": precision.reason,
                              "cpu": precision.cpu_name, "cpu_flags": precision.cpu_flags},
                "threads": torch.get_num_threads(), "processes": world_size()}
    if is_main_process():
        art.atomic_write(run_dir / art.CONFIG_FILE, cfg.to_yaml())
        art.write_json(run_dir / art.VERSIONS_FILE, art.library_versions())
        art.write_json(run_dir / art.DATA_FILE, data_summary)
        art.write_json(run_dir / art.RUN_FILE, run_info)
    return run_info


def fit(trainer, run_dir: Path, resume: bool, log) -> dict:
    """Run the Trainer, continuing from the last complete checkpoint when resuming; returns its
    throughput figures."""
    from .progress import replace_printing

    replace_printing(trainer, log)
    checkpoint = art.last_complete_checkpoint(run_dir) if resume else None
    if checkpoint:
        log(f"resuming from {checkpoint}")
    elif resume:
        log("no complete checkpoint to resume from: starting from the beginning")
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    return {k: round(output.metrics[k], 3) for k in ("train_samples_per_second", "train_runtime") if k in output.metrics}


def tensorboard_dir(run_dir: Path) -> None:
    """The Trainer's TensorBoard callback reads its directory from this variable."""
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / art.TENSORBOARD)


def finish_records(run_dir: Path, run_info: dict, metrics: dict, keep_checkpoints: bool) -> None:
    art.write_json(run_dir / art.METRICS_FILE, metrics)
    art.write_json(run_dir / art.RUN_FILE, {**run_info, "status": "complete", "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    from ..evaluation.model_card import write_model_card

    write_model_card(run_dir)
    if not keep_checkpoints:
        shutil.rmtree(run_dir / art.CHECKPOINTS, ignore_errors=True)
