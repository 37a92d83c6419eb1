"""`lmtune distill TEACHER_RUN --student ...`: a smaller or faster model trained on a finished
classification run's soft labels over unlabeled text, beside the labels the teacher had.

Read top to bottom: the teacher's config becomes the student's (same data, splits, labels and
seed; the student's backbone; method distill). `setup` builds the student's start (for
`layers:N`, the teacher itself with N of its layers), the teacher labels the pool (chunked,
cached in the run dir, resumable) and the finetune recipe does the rest. After the usual
`fit`, `save` and `score`, teacher and student are compared on the held-out texts: accuracy,
agreement, docs/s on this machine, size on disk and peak memory.
"""
from __future__ import annotations

import functools
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .. import artifacts as art
from ..config import RunConfig
from ..errors import ConfigError, ModelError
from ..evaluation.model_card import write_model_card
from .finetune import Finetune, TrainResult
from .validation import load_config

STUDENT_INIT = "student-init"  # in the run dir: where a layers:N student starts (the pruned teacher)
TEACHER_LOGITS = "teacher-logits"  # in the run dir: the teacher's log-probabilities of the pool, by chunk
# training.max_steps when none is set: each pool text drawn this many times on average
POOL_PASSES = 3
SPEED_TEXTS = 256  # held-out texts both models are timed on


@dataclass
class DistillResult(TrainResult):
    comparison: dict


def distill(teacher: str | Path, student: str = "default", *, unlabeled: str | Path | None = None,
            output_dir: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), compare: bool = True,
            **options) -> DistillResult:
    """Distil the classification run `teacher` into `student` (default | mpnet | a model dir | a
    hub name | layers:N | layers:i,j,...). `unlabeled`: more text for the teacher to label
    (replaces the teacher config's data.unlabeled; the rest of its labeled pool stays).
    `overrides`: --set lines on the student's config. `compare`: time teacher and student after
    training (two fresh processes). `options`: Recipe's (resume, overwrite, ...)."""
    cfg = student_config(teacher, student, unlabeled, output_dir, overrides)
    return Distillation(cfg, teacher=Path(teacher), student=student, compare=compare, **options).run()


def student_config(teacher: str | Path, student: str, unlabeled, output_dir, overrides) -> RunConfig:
    """The teacher run's resolved config with the student's backbone and method distill."""
    teacher = Path(teacher)
    info = _teacher_info(teacher)
    base = yaml.safe_load((teacher / art.CONFIG_FILE).read_text(encoding="utf-8"))
    out = Path(output_dir) if output_dir else Path("runs") / f"{teacher.name}-distilled-{_slug(student)}"
    base["output_dir"] = str(out)
    base["model"] = {**base.get("model", {}), "name": str(out / STUDENT_INIT) if is_layer_choice(student) else student}
    if not is_layer_choice(student):  # the teacher's pooling was chosen for its backbone (a pruned one keeps it)
        base["model"].pop("pooling", None)
    base["method"] = {"name": "distill"}
    # the teacher's steps were for its own method; null: POOL_PASSES over the pool (Distillation.fit_to_data)
    base["training"] = {**base.get("training", {}), "max_steps": None, "time_budget": None}
    options = dict(base.get("task_options") or {})
    if isinstance(options.get("class_prior"), dict):  # the teacher's probabilities carry its shift already
        options["class_prior"] = "labeled"
    base["task_options"] = options
    if unlabeled is not None:
        base["data"] = {**base["data"], "unlabeled": str(unlabeled), "max_unlabeled": None}
    if info.get("peft"):
        base.pop("peft", None)  # the student trains whole; the teacher's adapters are folded into it when loaded
    return load_config(None, list(overrides), base=base)


def is_layer_choice(student: str) -> bool:
    return student.startswith("layers:")


def _slug(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", Path(student).name if "/" in student else student).strip("-") or "student"


def _teacher_info(teacher: Path) -> dict:
    """The teacher's run record, or a clear error where it cannot teach."""
    if not (teacher / art.RUN_FILE).is_file():
        raise ModelError(f"{teacher} is not an lmtune run directory (no {art.RUN_FILE})",
                         fix="give the directory of a finished classification run (`lmtune runs` lists them).")
    info = art.read_json(teacher / art.RUN_FILE)
    if info.get("task") != "classification":
        raise ModelError(f"lmtune distill needs a classification run as the teacher; {teacher} is a "
                         f"{info.get('kind') or info.get('task')} run",
                         fix="train a classification model first (lmtune train), then distil that run.")
    if info.get("status") != "complete":
        raise ModelError(f"the teacher run {teacher} did not finish (status: {info.get('status')})",
                         fix=f"finish it first: lmtune train {teacher / art.CONFIG_FILE} --resume")
    if not (teacher / art.CONFIG_FILE).is_file():
        raise ModelError(f"{teacher} has no {art.CONFIG_FILE}: the data it learned from is unknown",
                         fix="distil a run directory written by lmtune train.")
    return info


class Distillation(Finetune):
    kind = "classification"

    def __init__(self, cfg: RunConfig, *, teacher: Path, student: str, compare: bool = True, **options):
        self.teacher_dir, self.student, self.comparing = Path(teacher), student, compare
        self.teacher_info = _teacher_info(self.teacher_dir)
        super().__init__(cfg, **options)
        self.teacher = None

    def load_teacher(self):
        from ..loading import load_run

        if self.teacher is None:
            self.teacher = load_run(self.teacher_dir)
        return self.teacher

    def setup(self) -> None:
        if is_layer_choice(self.student):
            self.prune_teacher()
        self.log(f"distilling {self.teacher_dir} into {self.student}")
        super().setup()
        self.run_info["distillation"] = self.records
        if is_layer_choice(self.student):  # its start (student-init) goes once trained: name what it came from
            self.run_info["backbone"] = self.teacher_info.get("backbone")

    def prune_teacher(self) -> None:
        """The student's start for layers:N: the teacher with N of its layers, saved once in the run dir."""
        import copy

        import torch

        from ..pruning import choose_layers, keep_layers
        from ..tasks.pooling import has_mean_pooling
        from ..training.peft import is_peft

        target = self.run_dir / STUDENT_INIT
        if (target / "config.json").is_file():  # a resumed run starts from the same pruned teacher
            return
        teacher = self.load_teacher()
        if not isinstance(teacher.model, torch.nn.Module) or is_peft(teacher.model):
            raise ModelError(f"--student {self.student} prunes the teacher's PyTorch layers; {self.teacher_dir} is "
                             + ("an export" if not isinstance(teacher.model, torch.nn.Module) else
                                "a peft run whose adapters cannot be folded in"),
                             fix="distil the original run, or give the student as a backbone (default, mpnet, a dir).")
        model = copy.deepcopy(teacher.model)
        pooled = has_mean_pooling(model)  # its averaging layer (tasks/pooling.py) stays on top, not counted
        total = model.config.num_hidden_layers - pooled
        keep = choose_layers(total, self.student.split(":", 1)[1])
        keep_layers(model, keep + ([total] if pooled else []))
        staging = Path(tempfile.mkdtemp(dir=self.run_dir, prefix=".student-staging-"))
        try:
            model.save_pretrained(staging, safe_serialization=True)
            teacher.tokenizer.save_pretrained(staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.log(f"student: the teacher's layers {', '.join(map(str, keep))} of 0-{total - 1} ({len(keep)} of {total}), "
                 f"its embeddings{', averaging layer' if pooled else ''} and head")

    @functools.cached_property
    def options(self):
        """The distill method's options, validated once."""
        from ..methods import get_method

        return get_method(self.cfg.method.name).Config.model_validate(self.cfg.method.options())

    @property
    def records(self) -> dict:
        options = self.options
        return {"teacher": str(self.teacher_dir.resolve()), "student": self.student, "alpha": options.alpha,
                "temperature": options.temperature, "unlabeled_ratio": options.unlabeled_ratio,
                **getattr(self, "teacher_pass", {})}

    def fit_to_data(self, cfg: RunConfig, data) -> RunConfig:
        """No training.max_steps given: enough steps for each pool text to be drawn POOL_PASSES times."""
        if not data.unlabeled:
            raise ConfigError("lmtune distill needs unlabeled text for the teacher to label, and the teacher's data "
                              "leaves none", fix="give --unlabeled FILE (a .txt file, one text per line, or a "
                                                 "CSV/JSONL with a text column).")
        if cfg.training.max_steps:
            return cfg
        ratio = self.options.unlabeled_ratio
        per_step = max(1, round(cfg.training.batch_size * ratio))
        steps = max(10, math.ceil(POOL_PASSES * len(data.unlabeled) / per_step))
        self.log(f"training.max_steps: {steps} (each of the {len(data.unlabeled)} pool texts drawn ~{POOL_PASSES} times, "
                 f"{per_step} per step)")
        return cfg.model_copy(update={"training": cfg.training.model_copy(update={"max_steps": steps})})

    def pool_logits(self, pool: list):
        """The teacher's log-probabilities of each pool text (softmax of them is its prediction; the
        method softens them by its temperature), cached in the run dir by chunk."""
        import time

        from ..evaluation.logits_cache import cached_logits
        from ..loading import inference_plan, task_of
        from ..training.common import world_size

        teacher = self.load_teacher()
        plan = inference_plan(teacher, batch_size=self.cfg.training.eval_batch_size, log=self.log)
        task = task_of(teacher)
        weights = sorted(self.teacher_dir.glob("*.safetensors")) + sorted(self.teacher_dir.glob("*.onnx"))
        key = {"teacher": str(self.teacher_dir.resolve()), "inference": plan.description,
               "weights": [[w.name, w.stat().st_size, w.stat().st_mtime_ns] for w in weights],
               "max_length": teacher.max_length}
        self.log(f"teacher: labeling {len(pool)} pool texts ({plan.description})")
        started = time.perf_counter()
        batch = self.cfg.training.eval_batch_size

        def compute(texts: list[str]) -> np.ndarray:
            probs = task.proba(plan.model, texts, batch_size=batch, progress=self.progress, desc="teacher")
            return np.log(np.clip(probs, 1e-12, None))

        # under torchrun each process labels its share of the chunks and reads the others'
        logits = cached_logits(compute, [ex.text for ex in pool], self.run_dir / TEACHER_LOGITS, key, log=self.log,
                               shard=(int(os.environ.get("RANK", "0")), world_size()))
        predicted = logits.argmax(1)
        shares = np.bincount(predicted, minlength=len(teacher.labels)) / max(1, len(predicted))
        self.teacher_pass = {"pool": len(pool), "teacher_seconds": round(time.perf_counter() - started, 1),
                             "teacher_inference": plan.description,
                             "teacher_pool_shares": dict(zip(teacher.labels, np.round(shares, 4).tolist()))}
        if list(teacher.labels) != list(self.data.labels):
            raise ModelError(f"the teacher's labels ({', '.join(teacher.labels)}) are not the student's data's "
                             f"({', '.join(self.data.labels)})", fix="distil with the data the teacher was trained on.")
        self.log("teacher's labels of the pool: " + ", ".join(f"{k} {v:.0%}" for k, v in
                                                                 self.teacher_pass["teacher_pool_shares"].items()))
        return logits

    def run(self) -> DistillResult:
        result = super().run()
        if not result.metrics:  # a torchrun rank other than 0
            return DistillResult(**result.__dict__, comparison={})
        comparison = self.compare() if self.comparing else {}
        info = art.read_json(self.run_dir / art.RUN_FILE)
        info["distillation"] = {**self.records, "comparison": comparison}
        art.write_json(self.run_dir / art.RUN_FILE, info)
        result.metrics["distillation"] = comparison
        art.write_json(self.run_dir / art.METRICS_FILE, result.metrics)
        write_model_card(self.run_dir)
        shutil.rmtree(self.run_dir / STUDENT_INIT, ignore_errors=True)  # the run dir holds the trained student now
        return DistillResult(**result.__dict__, comparison=comparison)

    def compare(self) -> dict:
        """Teacher vs student: held-out accuracy (each scored on the same split), the share of
        held-out texts where they agree, docs/s, size on disk and peak memory on this machine."""
        from .inference_speed import time_pair

        held = self.data.test or self.data.dev
        teacher_metrics = art.read_json(self.teacher_dir / art.METRICS_FILE) if \
            (self.teacher_dir / art.METRICS_FILE).is_file() else {}
        student_metrics = art.read_json(self.run_dir / art.METRICS_FILE)
        split = "test" if self.data.test else "dev"
        texts = [ex.text for ex in held[:SPEED_TEXTS]]
        if not texts:
            return {}
        from ..loading import inference_plan, load_run

        inference_plan(load_run(self.run_dir), log=self.log)  # the student's engine on this machine, measured once
        self.log(f"timing teacher and student on {len(texts)} {split} texts, each in a fresh process")
        comparison = {"split": split, **time_pair(self.teacher_dir, self.run_dir, texts,
                                                  batch_size=self.cfg.training.eval_batch_size)}
        for name, metrics in (("teacher", teacher_metrics), ("student", student_metrics)):
            scored = metrics.get(split, {})
            comparison[name] = {"accuracy": scored.get("accuracy"), "macro_f1": scored.get("macro_f1"),
                                **comparison[name]}
        teacher_n = teacher_metrics.get(split, {}).get("n")
        student_n = student_metrics.get(split, {}).get("n")
        if teacher_n != student_n:
            comparison["warning"] = (f"the teacher was scored on {teacher_n} {split} texts and the student on "
                                     f"{student_n}: their accuracies are not of the same texts")
            self.log(f"warning: {comparison['warning']}")
        self.log(f"student agrees with the teacher on {comparison['agreement']:.1%} of {len(texts)} {split} texts; "
                 f"{comparison['speedup']}x its docs/s")
        return comparison
