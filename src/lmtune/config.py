"""Run configuration: pydantic models, YAML loading, dotted `--set key=value` overrides.

Every section forbids unknown keys, so a typo fails before any compute is spent, with the
closest known key and the YAML line it sits on.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError, closest

FREEZE_PATTERN = r"none|embeddings|head-only|top-[1-9][0-9]*"  # training.freeze; see training/freezing.py


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(StrictModel):
    builtin: str | None = Field(None, description="packaged dataset: bbc_news, imdb, rotten_tomatoes, spam_assassin")
    train: str | None = Field(None, description="CSV/TSV/JSONL/Parquet file with text and label columns")
    dev: str | None = None
    test: str | None = None
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "conll"] = "auto"
    text_column: str = "text"
    label_column: str = "label"
    # Used only where no dev/test file is given: a fraction (<1) or a row count; 0 = none.
    dev_size: float = Field(0.1, ge=0)
    test_size: float = Field(0.1, ge=0)
    # Keep K labels per class; the rest of the train pool becomes unlabeled text (classification).
    labels_per_class: int | None = Field(None, ge=1)
    # Keep N labeled training examples (sentences, prompts, texts) drawn at random; the rest of the
    # train pool becomes unlabeled (any task).
    labeled_size: int | None = Field(None, ge=1)
    # More unlabeled text for semi-supervised methods: .txt (a document per line), a directory
    # of .txt files, or a CSV/JSONL/Parquet file's text_column (labels there are ignored).
    unlabeled: str | None = None
    max_unlabeled: int | None = Field(None, ge=1, description="use a seeded random subset of this many unlabeled texts")
    # seed of the dev/test splits; null = the run's seed. Fix it to compare seeds on one test set.
    split_seed: int | None = None
    on_bad_rows: Literal["error", "skip"] = "error"

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        if bool(self.builtin) == bool(self.train):
            raise ValueError("give exactly one of data.builtin (a packaged dataset) or data.train (a file)")
        if self.labels_per_class and self.labeled_size:
            raise ValueError("give one label budget: data.labels_per_class or data.labeled_size")
        return self


class ModelConfig(StrictModel):
    # "default" = the packaged all-MiniLM-L6-v2; else a local directory or a hub name.
    name: str = "default"
    revision: str | None = None
    max_length: int = Field(256, ge=8, le=8192)
    # "prototype": classifier rows start at the class means of the features the head reads;
    # "probe": as a logistic regression fitted on them (single-label classification)
    head_init: Literal["prototype", "probe", "random"] = "prototype"
    # What a sequence classifier's head reads. first: the architecture's own (the first token);
    # mean: the mean of the tokens, through one appended layer (tasks/pooling.py); auto: mean where
    # method auto trains supervised on a backbone that pools by mean (its sentence-transformers
    # config says so), first otherwise.
    pooling: Literal["auto", "first", "mean"] = "auto"
    # Dropout on attention weights while training; null keeps the backbone's own value. At 0 the
    # fused attention kernel runs: training steps 1.4x faster on CPU (dropout there forces the
    # unfused path), same accuracy in BENCHMARKS.md.
    attention_dropout: float | None = Field(0.0, ge=0, lt=1)


class NamedSpec(BaseModel):
    """`{name: ..., <options of the named component>}`; the component checks its own options."""
    model_config = ConfigDict(extra="allow")
    name: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MethodSpec(NamedSpec):
    """`method: {name: auto | supervised | ..., <the method's own options>}` (`lmtune ls` lists
    them). auto (methods/auto/plan.py) picks one of the others for the data at hand."""
    name: str = "auto"


class AttackSpec(NamedSpec):
    """`adversarial: {name: fgm | pgd | freelb, epsilon: ..., steps: ...}`: embedding perturbations
    added to any method's labeled loss (see methods/adversarial.py)."""


class PeftSpec(BaseModel):
    """`peft: {method: lora | adalora | ia3 | prefix-tuning | prompt-tuning | ..., <peft's own
    options>}`: handed to the peft library as it is (its LoraConfig, IA3Config, ... fields)."""
    model_config = ConfigDict(extra="allow")
    method: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class TrainingConfig(StrictModel):
    epochs: float = Field(10, gt=0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1, description="fraction of optimizer steps spent warming up")
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)
    # Stop after this many evaluations without improvement on `metric`; null = never stop early.
    early_stopping_patience: int | None = Field(3, ge=1)
    # dev metric that picks the best epoch; null = the task's first (classification: macro_f1,
    # token-classification: f1, generation: loss)
    metric: str | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    group_by_length: bool = True
    # classification, imbalanced labels: each class's weight in the labeled loss. none; auto:
    # n / (classes x n_c), every class counts as much as if they were equal; {label: weight}
    class_weights: Literal["none", "auto"] | dict[str, float] = "none"
    # classification: steps of a first stage on pairs of labeled texts (SetFit's idea, in lmtune's
    # trainer): the features the head reads pulled together for the same label, apart for
    # different ones; the head then starts again from the class means. 0 = no such stage
    contrastive_steps: int = Field(0, ge=0)
    # random; balanced: batches draw every class equally often (with replacement; replaces
    # group_by_length)
    sampler: Literal["random", "balanced"] = "random"
    # experiment trackers the Trainer logs to (its report_to): tensorboard (in the run dir),
    # mlflow (MLFLOW_TRACKING_URI, else a local store beside the run dirs), wandb, ...; [] = none
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    # Layer-wise learning-rate decay: layer i of L trains at learning_rate x decay^(L - i), the
    # embeddings at decay^(L + 1); the head at learning_rate. 1.0 = one rate for all.
    layer_lr_decay: float = Field(1.0, gt=0, le=1)
    # none | embeddings | head-only | top-N (train the last N layers and the head)
    freeze: str = Field("none", pattern=f"^({FREEZE_PATTERN})$")
    # torch.compile the model for training. Off: on CPU a few-shot run spends longer compiling
    # than it saves (2x slower end to end in BENCHMARKS.md); try it for long runs.
    compile: bool = False
    logging_steps: int = Field(10, ge=1)
    save_total_limit: int = Field(2, ge=1)
    # per-epoch checkpoints (weights + optimizer state, ~3x the model) exist to resume a killed
    # run; once the run is complete they are deleted unless kept
    keep_checkpoints: bool = False
    # without a dev set nothing picks a best epoch, so checkpoints only serve a resume: one every
    # this many minutes of training, not one per epoch (a 110M model's is 1.3 GB, seconds to
    # write). 0: one per epoch (at most 20), as with a dev set
    checkpoint_minutes: float = Field(5.0, ge=0)
    # wall-clock limit of the whole run, e.g. 15m, 1h30m, 90s (stored as seconds): training stops
    # in time to score the model, and method auto plans no more steps than this machine can take
    time_budget: float | None = Field(None, gt=0, description="seconds, or a duration such as 15m, 1h30m, 90s")

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value):
        if isinstance(value, dict) and (not value or any(w <= 0 for w in value.values())):
            raise ValueError("class_weights must be positive numbers, one per label, e.g. {spam: 3, ham: 1}, or auto")
        return value

    @field_validator("report_to", mode="before")
    @classmethod
    def _trackers(cls, value):
        value = [value] if isinstance(value, str) else value
        value = [v for v in value if v != "none"] if isinstance(value, list) else value
        unknown = [v for v in value if v not in TRACKERS] if isinstance(value, list) else []
        if unknown:
            raise ValueError(f"unknown tracker {unknown[0]!r}; known: {', '.join(TRACKERS)} (or none)")
        return value

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value):
        return parse_duration(value) if isinstance(value, str) else value


# transformers' report_to integrations (transformers.integrations.INTEGRATION_TO_CALLBACK)
TRACKERS = ("tensorboard", "mlflow", "wandb", "trackio", "comet_ml", "clearml", "neptune", "azure_ml", "dvclive",
            "codecarbon", "dagshub", "flyte", "swanlab", "kubeflow")

DURATION = re.compile(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)s)?\s*")


def parse_duration(text: str) -> float:
    """Seconds of "15m", "1h30m", "90s", "2.5h" or a bare number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    match = DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration: write seconds (900) or a duration such as 15m, 1h30m, 90s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class PretrainConfig(StrictModel):
    """`lmtune pretrain`: continue the backbone's self-supervised objective on domain text."""
    objective: Literal["auto", "mlm", "clm"] = "auto"  # auto: masked LM for encoders, causal LM for decoders
    mask_rate: float = Field(0.15, gt=0, lt=1)
    whole_word_mask: bool = False
    # pack: concatenate texts and cut into blocks of model.max_length (no padding wasted);
    # otherwise one block per text, truncated (counted and reported)
    packing: bool = True
    min_words: int = Field(3, ge=1, description="shorter texts are skipped and listed in the rejects file")
    max_texts: int | None = Field(None, ge=1, description="train on a seeded random subset of this many texts")
    eval_tokens: int = Field(2048, ge=16, description="held-out tokens scored for (pseudo-)perplexity")


class RunConfig(StrictModel):
    task: str = "classification"
    # the task's own options (`lmtune ls` lists tasks; README: one table per task)
    task_options: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig
    model: ModelConfig = ModelConfig()
    method: MethodSpec = MethodSpec()
    peft: PeftSpec | None = None
    adversarial: AttackSpec | None = None
    training: TrainingConfig = TrainingConfig()
    pretrain: PretrainConfig = PretrainConfig()
    seed: int = 42
    output_dir: str | None = None

    @model_validator(mode="after")
    def _options_fit_the_task(self):
        t = self.training
        if self.task != "classification" and (t.class_weights != "none" or t.sampler != "random"):
            raise ValueError(f"training.class_weights and training.sampler: balanced weigh single-label classes; "
                             f"task {self.task!r} trains without them (drop them from the training section)")
        if t.contrastive_steps and (self.task != "classification" or self.peft is not None):
            raise ValueError("training.contrastive_steps tunes the whole backbone on pairs of single-label texts; "
                             + (f"task {self.task!r} has no such pairs" if self.task != "classification" else
                                "with peft only the adapters would be saved, not the tuned backbone")
                             + " (set it to 0)")
        if self.model.head_init == "probe" and self.task != "classification":
            raise ValueError(f"model.head_init: probe fits a logistic regression to single-label classes; task "
                             f"{self.task!r} has none (use prototype or random)")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- loading


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                base: dict | None = None) -> RunConfig:
    """YAML file (or `base` dict) + dotted overrides -> RunConfig, checked against the schema."""
    raw: dict[str, Any] = copy.deepcopy(base or {})  # overrides must not leak into the caller's dict
    source = None
    if path is not None:
        source = Path(path)
        if not source.is_file():
            raise ConfigError(f"config file not found: {source}", fix="check the path.")
        try:
            loaded = yaml.load(source.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
        except _DuplicateKey as exc:
            raise ConfigError(f"key {exc.key!r} appears twice in one section (first at line {exc.first})",
                              where=f"{source}:{exc.line}", fix="keep one of them: YAML would silently use the last.") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else str(source)
            raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", where=where,
                              fix="check indentation and quoting on that line.") from None
        if not isinstance(loaded, dict):
            raise ConfigError("the config must be a mapping of sections", where=str(source),
                              fix="start with keys such as `data:` and `model:`.")
        raw = _merge(raw, loaded)
    for item in overrides:
        _apply_override(raw, item)
    return validate_config(raw, source)


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, line: int):
        self.key, self.first, self.line = key, first, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error, not "the last one wins"."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(str(key), seen[key], key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def validate_config(raw: dict, source: Path | None = None) -> RunConfig:
    """The schema: sections, keys, types and ranges. The components named in it (task, method,
    attack, peft) check their own options in recipes/validation.py, which lmtune.load_config uses."""
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise friendly_error(exc, source) from None
    return cfg


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply_override(raw: dict, item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not key=value", fix="write e.g. --set training.epochs=3")
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is not a section", fix="check the key path.")
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        node[parts[-1]] = value


def friendly_error(exc: ValidationError, source: Path | None, prefix: tuple = (), model: type[BaseModel] = RunConfig
              ) -> ConfigError:
    err = exc.errors()[0]
    loc = prefix + tuple(str(p) for p in err["loc"])
    dotted = ".".join(loc)
    where = yaml_location(source, loc) if source else None
    if err["type"] == "extra_forbidden":
        known = _fields_at(model, tuple(str(p) for p in err["loc"])[:-1])
        hint = closest(loc[-1], known)
        fix = f"did you mean {'.'.join(loc[:-1] + (hint,))!r}?" if hint else f"known keys here: {', '.join(known)}."
        return ConfigError(f"unknown config key {dotted!r}.", where=where, fix=fix)
    got = err.get("input")
    what = f"{dotted}: {err['msg']}" if dotted else err["msg"]
    if got is not None and not isinstance(got, dict):
        what += f" (got {got!r})"
    return ConfigError(what + ".", where=where, fix="correct that value in the config or its --set override.")


def _fields_at(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def yaml_location(source: Path, loc: tuple[str, ...]) -> str:
    """`file:line` of the deepest key of `loc` present in the YAML file."""
    try:
        node = yaml.compose(source.read_text(encoding="utf-8"))
    except Exception:
        return str(source)
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == part:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return f"{source}:{line}" if line else str(source)
