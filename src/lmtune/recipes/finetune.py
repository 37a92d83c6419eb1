"""`lmtune train`: config -> data -> backbone -> task -> method -> Trainer -> run dir.

Read top to bottom: `setup` builds everything from the config, `fit` trains, `save` writes the
model, `score` measures it on the held-out splits and finishes the records.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts as art
from ..config import RunConfig
from ..data import DataBundle, prepare_data
from ..errors import ConfigError
from ..loading import save_model
from ..methods import build_method
from ..methods.base import Setup
from ..models import config_overrides, load_tokenizer
from ..tasks import get_task
from ..training.common import (
    make_trainable,
    optimizer_steps,
    saved_config,
    tensorboard_dir,
    training_arguments,
    world_size,
    write_rejects,
)
from ..training.peft import merged, needs_budget_callback
from ..training.trainer import MethodTrainer
from .base import Recipe
from .validation import check_backbone


def saved_backbone(run_dir: Path) -> str | None:
    """The backbone a run dir's resolved config names (None: no readable config)."""
    try:
        return saved_config(run_dir)["model"]["name"]
    except (KeyError, TypeError):
        return None


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict
    data: DataBundle
    seconds: float


def train(cfg: RunConfig, **options) -> TrainResult:
    """Train, keep the best model, evaluate on dev and test, write the run dir (`options`: those
    of Recipe: resume, resume_anyway, overwrite, callbacks, progress, log)."""
    return Finetune(cfg, **options).run()


class Finetune(Recipe):
    def setup(self) -> None:
        cfg, log = self.cfg, self.log
        self.run_info_extra = {}
        # before the data: a wrong name or a max_length it cannot take fails at once
        self.source = check_backbone(cfg)
        task_cls = get_task(cfg.task)
        self.data = data = prepare_data(cfg.data, cfg.seed, cfg.task, cfg.task_options)
        self.report_data(data)
        cfg = self.cfg = self.fit_to_data(cfg, data)
        if cfg.method.name == "auto":  # before the backbone is built: auto may train a stronger one
            cfg = self.cfg = self.choose_backbone(cfg, task_cls)
        self.tokenizer = load_tokenizer(cfg.model.name, cfg.model.revision)
        self.task = task = task_cls(data.labels, self.tokenizer, cfg.model.max_length, cfg.task_options)
        metric = cfg.training.metric or next(iter(task.metrics))
        if metric not in task.metrics:
            raise ConfigError(f"training.metric {cfg.training.metric!r} is not a metric of task {cfg.task!r}",
                              fix=f"use one of {', '.join(task.metrics)}.")
        planned = cfg.method.name == "auto"  # decided once the backbone is built: it measures the data through it
        if not planned:
            self.method = self.build_method(cfg)
        model, train_ds, train_set, dev_ds = self.build_model()
        views = None
        if planned:
            chosen = self.plan_method(model)
            cfg, views = self.cfg, chosen.views
            self.method = self.build_method(cfg)
        method = self.method
        if cfg.model.pooling == "mean":
            self.pool_by_mean(model)
        resumed = self.resume and art.last_complete_checkpoint(self.run_dir)
        if self.fresh and not resumed:  # after auto's plan: the head starts from the features it will read
            done = task.init_head(model, train_ds, cfg.model.head_init, self.fresh)
            if done:
                log(done)
        if cfg.training.contrastive_steps and not resumed:
            from ..training.contrastive import contrastive_stage

            self.run_info_extra["contrastive"] = contrastive_stage(model, task, cfg, data.train, train_ds, log)
        if cfg.training.time_budget:
            cfg = self.cfg = self.steps_within_budget(model, cfg, train_ds, len(train_set))
        model, trainable, extra_callbacks = make_trainable(model, cfg, task_type=task.peft_task_type,
                                                           head=task.head_modules(model), n_train=len(train_set), log=log)
        class_weights, sample_weights = self.balance(cfg, len(train_set))
        pool = data.unlabeled if method.needs_unlabeled else []
        method.setup(Setup(model, self.source, pool, data.train, train_ds, optimizer_steps(cfg, len(train_set)), log,
                           views, class_weights, self.pool_logits(pool)))
        unlabeled_ds = None
        if method.draws_unlabeled:
            unlabeled_ds = method.unlabeled_dataset(data.unlabeled)
            log(f"method {cfg.method.name}: {len(data.unlabeled)} unlabeled texts, "
                f"{method.config.unlabeled_ratio:g} drawn per labeled example in each step, alpha {method.config.alpha:g}")
        select = self.selection(metric, model) if dev_ds is not None else None
        args, stoppers, self.precision = training_arguments(cfg, self.run_dir, len(train_set), select=select,
                                                            progress=self.progress, log=log, started=self.started)
        self.run_info = self.start_records(data.summary(), self.precision, labels=data.labels,
                                           method=cfg.method.name, newly_initialised=self.fresh, **trainable,
                                           **({"auto": self.auto} if self.auto else {}), **self.run_info_extra)
        tensorboard_dir(self.run_dir)
        self.trainer = MethodTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=dev_ds,
                                     data_collator=task.collator(), processing_class=self.tokenizer,
                                     compute_metrics=task.compute_metrics if select else None,
                                     callbacks=list(self.callbacks) + stoppers + extra_callbacks + method.callbacks(),
                                     method=method, layer_lr_decay=cfg.training.layer_lr_decay, unlabeled=unlabeled_ds,
                                     sample_weights=sample_weights)

    def fit_to_data(self, cfg: RunConfig, data: DataBundle) -> RunConfig:
        """The config once the data is known (a recipe may size the run to it); finetune keeps it."""
        return cfg

    def pool_logits(self, pool: list):
        """What a recipe knows of each pool text before training (distill: the teacher's logits)."""
        return None

    auto: dict | None = None  # what method auto measured and chose
    run_info_extra: dict = {}

    def balance(self, cfg: RunConfig, n_train: int):
        """training.class_weights and training.sampler for imbalanced labels (training/balance.py):
        (class weights as a tensor or None, per-example sampling weights or None)."""
        import torch

        from ..training.balance import balanced_sample_weights, class_weight_vector, trained_shares

        t, data = cfg.training, self.data
        if t.class_weights == "none" and t.sampler == "random":
            return None, None
        if not get_task(cfg.task).data.stratified or n_train != len(data.train):
            raise ConfigError(f"training.class_weights and training.sampler: balanced apply to classification; this "
                              f"run's task is {cfg.task}", fix="drop them from the training section.")
        weights = class_weight_vector(t.class_weights, data.labels, data.train)
        if weights is not None:
            self.log("class weights in the labeled loss: " + ", ".join(f"{lb} {w:.3g}" for lb, w in zip(data.labels, weights)))
        samples = balanced_sample_weights(data.labels, data.train) if t.sampler == "balanced" else None
        if samples is not None:
            self.log("balanced sampler: every class drawn equally often (with replacement)")
        self.task.trained_shares = trained_shares(data.labels, data.train, weights, t.sampler)
        self.run_info_extra["balance"] = {
            "class_weights": None if weights is None else {lb: round(float(w), 4) for lb, w in zip(data.labels, weights)},
            "sampler": t.sampler}
        return (None if weights is None else torch.tensor(weights, dtype=torch.float32)), samples

    def build_method(self, cfg: RunConfig):
        method = build_method(cfg, self.task)
        if method.needs_unlabeled and getattr(self.task, "windows", False):
            raise ConfigError(f"method {cfg.method.name!r} learns from unlabeled text one row per text, and "
                              "task_options.long_text: chunks trains on windows of each text",
                              fix="use method.name: supervised (or auto) with chunks, or long_text: truncate.")
        if method.needs_unlabeled and not self.data.unlabeled:
            raise ConfigError(f"method {cfg.method.name!r} learns from unlabeled text, but the data has none",
                              fix="set data.unlabeled to a file of raw text, or data.labels_per_class (or data.labeled_size) "
                                  "so the rest of the labeled pool becomes unlabeled; or use method.name: supervised.")
        return method

    def plan_method(self, model):
        """Resolve `method: auto` (methods/auto/plan.py): self.cfg becomes the config it chose, which
        the run dir records (a resumed run plans again, the same way, and must match it)."""
        from ..methods.auto import plan
        from ..training.cross_fit import supervised_held_out

        def yardstick(splits, supervised):  # the gate's measure of supervised fine-tuning, fold by fold
            import random

            from ..methods.auto.gate import SHARE_SAMPLE

            pool = [ex.text for ex in self.data.unlabeled]
            sample = random.Random(self.cfg.seed).sample(pool, min(SHARE_SAMPLE, len(pool)))
            return supervised_held_out(model, self.task, supervised, self.data.train, splits, self.fresh, self.log,
                                       sample)

        chosen = plan(self.cfg, self.task, self.data, model, self.log, yardstick)
        self.cfg, self.auto = chosen.config, {**chosen.record, "backbone": self.backbone_choice}
        return chosen

    backbone_choice: dict | None = None  # auto's choice of backbone and why, for the run file

    def choose_backbone(self, cfg: RunConfig, task_cls) -> RunConfig:
        """`cfg` on the stronger packaged backbone where auto may use it and its plan fits the
        time budget at the speed measured here (methods/auto/backbone.py); a resumed run keeps
        the backbone it started with."""
        from .. import packaged
        from ..methods.auto import backbone as auto_backbone

        name, why = auto_backbone.candidate(cfg, packaged.installed, world_size() > 1)
        started_on = saved_backbone(self.run_dir) if self.resume else None
        if name is not None and started_on not in (None, name):
            name, why = None, f"the resumed run started on {started_on}"
        if name is None:
            self.backbone_choice = {"chosen": cfg.model.name, "why": why}
            self.log(f"auto: the {cfg.model.name} backbone ({why})")
            return cfg
        stronger = cfg.model_copy(update={"model": cfg.model.model_copy(update={"name": name})})
        if started_on == name:
            fits, why, measured = True, f"the resumed run started on {name}", {}
        else:
            data = self.data
            smallest = min(sum(ex.label == label for ex in data.train) for label in data.labels)

            def plan_on(speed):
                planned = auto_backbone.planned_seconds(speed, cfg, len(data.train), len(data.unlabeled),
                                                        len(data.dev) + len(data.test),
                                                        optimizer_steps(cfg, len(data.train)), smallest)
                return (planned, *auto_backbone.decide(speed, planned, cfg.training.time_budget))

            try:  # a training step is timed only where the plan could fit at forward-pass cost
                speed = self.measure_backbone(stronger, task_cls, lambda lower: plan_on(lower)[1])
            except ConfigError as exc:  # e.g. a max_length the stronger backbone cannot take
                self.backbone_choice = {"chosen": cfg.model.name, "why": f"{name}: {exc.message}"}
                self.log(f"auto: the {cfg.model.name} backbone, not {name}: {exc.message}")
                return cfg
            planned, fits, why = plan_on(speed)
            measured = {"planned_seconds": planned, "measured_in_seconds": round(speed.measured_in, 1)}
        chosen = stronger if fits else cfg
        self.backbone_choice = {"chosen": chosen.model.name, "why": why, **measured}
        self.log(f"auto: {why}, so the run trains on " + (name if fits else f"the {cfg.model.name} backbone"))
        if fits:
            self.source = check_backbone(chosen)
        return chosen

    def measure_backbone(self, cfg: RunConfig, task_cls, worth_a_step=lambda lower: True):
        """The backbone of `cfg` timed on a batch of the run's own texts: a forward pass, then a
        training step where `worth_a_step(Speed.at_least(...))` (the plan could fit), else that
        lower bound (methods/auto/backbone.Speed)."""
        import random
        import time

        from ..device import choose_precision
        from ..methods.auto.backbone import Speed, timed_texts
        from ..training.time_budget import seconds_per_forward, seconds_per_step

        started = time.perf_counter()
        source = check_backbone(cfg)
        self.log(f"auto: timing {cfg.model.name} on this machine, to see whether its plan fits the time budget")
        task = task_cls(self.data.labels, load_tokenizer(cfg.model.name, cfg.model.revision), cfg.model.max_length,
                        cfg.task_options)
        model, _ = task.build_model(source, cfg.model.revision,
                                    **config_overrides(source, cfg.model.revision, cfg.model.attention_dropout))
        texts = self.data.train + self.data.unlabeled
        sample = random.Random(cfg.seed).sample(texts, min(timed_texts(cfg), len(texts)))
        batch = task.collator()([{k: v for k, v in f.items() if k in ("input_ids", "attention_mask")}
                                 for f in task.encode(sample).features])
        precision = choose_precision(cfg.training.precision).precision
        # embedding and scoring batch texts of like length, so they pay for their own tokens, not the
        # longest text's (training batches are drawn at random and pad as this one does)
        tokens = batch["attention_mask"]
        forward = seconds_per_forward(model, batch, precision) * float(tokens.sum()) / tokens.numel() / len(sample)
        lower = Speed.at_least(forward, time.perf_counter() - started)
        if not worth_a_step(lower):
            return lower
        train = seconds_per_step(model, [batch], precision) / len(sample)
        return Speed(forward, train, time.perf_counter() - started)

    def steps_within_budget(self, model, cfg: RunConfig, train_ds, n_train: int) -> RunConfig:
        """`cfg` with no more steps than fit in training.time_budget at the speed of one step timed
        here, on a labeled batch and the unlabeled batch the method draws with it."""
        import time

        from ..device import choose_precision
        from ..training.time_budget import seconds_per_step, steps_within, training_deadline

        t, collate = cfg.training, self.task.collator()
        batches = [collate(train_ds.features[:t.batch_size])]
        ratio = getattr(self.method.config, "unlabeled_ratio", 0) if self.method.draws_unlabeled else 0
        if ratio:
            drawn = self.method.unlabeled_dataset(self.data.unlabeled[:math.ceil(t.batch_size * ratio)]).features
            batches.append(collate([{k: v for k, v in f.items() if k in ("input_ids", "attention_mask")}
                                    for f in drawn]))
        step = seconds_per_step(model, batches, choose_precision(t.precision).precision)
        left = training_deadline(self.started, t.time_budget) - time.time()
        planned = optimizer_steps(cfg, n_train)
        fits = steps_within(left, step * t.gradient_accumulation_steps)
        budget = {"seconds": t.time_budget, "step_seconds": round(step, 3), "seconds_left": round(left, 1),
                  "planned_steps": planned, "steps": min(planned, fits)}
        self.run_info_extra["time_budget"] = budget
        if fits >= planned:
            self.log(f"time budget: {planned} steps at {step:.2f} s each fit in the {left / 60:.1f} min left")
            return cfg
        self.log(f"time budget: {fits} steps instead of {planned} ({step:.2f} s each on this machine, "
                 f"{left / 60:.1f} min left for training)" + (" - fewer than 10: raise training.time_budget"
                                                              if fits < 10 else ""))
        return cfg.model_copy(update={"training": t.model_copy(update={"max_steps": fits})})

    def report_data(self, data: DataBundle) -> None:
        write_rejects(self.run_dir, data.rejects, self.log)
        for warning in data.warnings[:5]:
            self.log(f"warning: {warning}")
        if len(data.warnings) > 5:
            self.log(f"... {len(data.warnings) - 5} more warnings of that kind")
        self.log(f"data: {len(data.train)} labeled train, {len(data.dev)} dev, {len(data.test)} test, "
                 f"{len(data.unlabeled)} unlabeled; {len(data.labels)} labels")

    def build_model(self):
        """The task model on the backbone (its new head still random: run() starts it once the
        method and pooling are known), and the encoded splits: (model, train dataset, what the
        trainer draws, dev dataset or None)."""
        cfg, task, data = self.cfg, self.task, self.data
        source = self.source
        model, self.fresh = task.build_model(source, cfg.model.revision,
                                             **config_overrides(source, cfg.model.revision, cfg.model.attention_dropout))
        if self.fresh:
            self.log(f"newly initialised weights (not in the backbone): {', '.join(self.fresh)}")
        train_ds = task.encode(data.train)
        train_set = task.training_dataset(train_ds)  # what the trainer draws (generation may pack examples)
        dev_ds = task.encode(data.dev).by_length() if data.dev else None
        for warning in task.warnings:
            self.log(f"warning: {warning}")
        return model, train_ds, train_set, dev_ds

    def pool_by_mean(self, model) -> None:
        """model.pooling mean (set, or chosen by auto): the head reads the mean of the tokens
        through one appended layer (tasks/pooling.py)."""
        from ..tasks.pooling import add_mean_pooling

        if add_mean_pooling(model):  # False: the backbone (a run of lmtune, a pruned teacher) has it already
            self.log(f"model.pooling mean: the head reads the mean of the tokens (layer "
                     f"{model.config.num_hidden_layers} appended, written to average them)")

    def selection(self, metric: str, model):
        """(dev metric, higher is better) that picks the best epoch, or None where none can be."""
        if needs_budget_callback(model):  # checkpoints of different epochs have different ranks
            self.log("AdaLoRA prunes ranks while it trains, so the last epoch is kept: no best-epoch selection or early "
                     "stopping (the dev set is still scored at the end)")
            return None
        return metric, self.task.metrics[metric]

    def save(self) -> None:
        self.run_info.update(self.task.adjust_after_training(
            self.trainer.model, self.data, self.cfg.seed, self.log,
            batch_size=self.cfg.training.eval_batch_size, progress=self.progress, precision=self.precision.precision))
        save_model(self.trainer.model, self.tokenizer, self.run_dir)

    def score(self) -> dict:
        state = self.trainer.state
        metrics = {"train_seconds": self.train_seconds, "global_step": state.global_step, "epochs": state.epoch,
                   "best_checkpoint": state.best_model_checkpoint, **self.speed}
        # adapters folded into the weights: what `load_run` serves, and faster
        scores, extra = self.task.score_held_out(merged(self.trainer.model), self.data, self.cfg, self.precision,
                                                 self.progress, self.log, self.run_dir)
        metrics.update(scores)
        self.run_info.update(extra)
        held_out = {"test": self.data.test, "dev": self.data.dev}.get(self.data.held_out_split or "")
        if self.task.measures_engines and held_out:  # predict measures the inference engines on them, once per machine
            from ..export.engines import ENGINES_DIR, save_check_texts

            save_check_texts(self.run_dir / ENGINES_DIR, [ex.text for ex in held_out],
                             [self.task.labels.index(ex.label) for ex in held_out])
        if getattr(self.method, "history", None):
            self.run_info["pseudo_label_rounds"] = self.method.history
        return metrics

    def result(self, metrics: dict) -> TrainResult:
        return TrainResult(self.run_dir, metrics, self.data, metrics.get("wall_seconds", self.train_seconds))
