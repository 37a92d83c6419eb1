"""The config's components check their own options before any compute is spent: the task's
`task_options`, the method's and the attack's options (and whether the method applies to the
task), and the peft section (handed to peft itself). `config.py` checks only the schema; this
module is what `lmtune.load_config`, `lmtune validate` and every recipe call. The options come
from lmtune.options, so nothing here imports torch (but a peft section: peft checks it, and peft
imports torch).
"""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from .. import config as schema
from ..config import RunConfig, friendly_error, yaml_location
from ..errors import ConfigError
from ..options import ATTACK_OPTIONS, METHOD_OPTIONS, TASK_OPTIONS, options_of


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                base: dict | None = None) -> RunConfig:
    """YAML file (or `base` dict) + dotted overrides -> a RunConfig whose components accept it."""
    cfg = schema.load_config(path, overrides, base)
    return check_components(cfg, Path(path) if path is not None else None)


def validate_config(raw: dict, source: Path | None = None) -> RunConfig:
    return check_components(schema.validate_config(raw, source), source)


def check_components(cfg: RunConfig, source: Path | None = None) -> RunConfig:
    """`cfg` itself when its components accept it; a ConfigError naming the key (and its YAML line
    when `source` is the file) otherwise."""
    where = (lambda *key: yaml_location(source, key)) if source else (lambda *key: None)
    task = options_of(TASK_OPTIONS, cfg.task)
    try:
        task.schema.model_validate(cfg.task_options)
    except ValidationError as exc:
        raise friendly_error(exc, source, prefix=("task_options",), model=task.schema) from None
    method = options_of(METHOD_OPTIONS, cfg.method.name)
    if method.tasks is not None and cfg.task not in method.tasks:
        raise ConfigError(f"method {cfg.method.name!r} does not apply to task {cfg.task!r}", where=where("method", "name"),
                          fix=f"it works with {', '.join(method.tasks)}; use method.name: supervised or a method "
                              f"that applies (`lmtune ls`).")
    components = [("method", method, cfg.method)]
    if cfg.adversarial:
        components.append(("adversarial", options_of(ATTACK_OPTIONS, cfg.adversarial.name), cfg.adversarial))
    for section, spec, given in components:
        try:
            options = spec.schema.model_validate(given.options())
        except ValidationError as exc:
            raise friendly_error(exc, source, prefix=(section,), model=spec.schema) from None
        if refused := spec.refused(options, cfg.task):
            key, problem, fix = refused
            raise ConfigError(problem, where=where(section, key), fix=fix)
    if cfg.model.pooling == "mean":
        _check_mean_pooling(cfg, where)
    if cfg.peft:
        if cfg.training.freeze != "none":
            raise ConfigError("peft and training.freeze both choose what trains", where=where("training", "freeze"),
                              fix="peft already freezes the backbone and trains its adapters and the head: "
                                  "leave training.freeze at none.")
        from ..tasks import get_task
        from ..training.peft import peft_config

        peft_config(cfg.peft, get_task(cfg.task).peft_task_type, total_steps=1, where=source)
    return cfg


# Tasks whose models end in a sequence head (one prediction per text), which model.pooling feeds
SEQUENCE_HEAD_TASKS = ("classification", "multi-label")


def _check_mean_pooling(cfg: RunConfig, where) -> None:
    if cfg.task not in SEQUENCE_HEAD_TASKS:
        raise ConfigError(f"model.pooling: mean feeds a head that reads one vector per text; task {cfg.task!r} has none",
                          where=where("model", "pooling"), fix="leave model.pooling at auto.")
    if cfg.peft:
        raise ConfigError("model.pooling: mean appends a layer of weights the backbone does not have, and a peft run "
                          "saves only its adapters and head", where=where("model", "pooling"),
                          fix="train without peft, or use model.pooling: first.")


# Architectures whose positions start after the padding index: two of their positions are never used.
_OFFSET_POSITIONS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "mpnet": 2, "longformer": 2}


def check_backbone(cfg: RunConfig, source: Path | None = None) -> str:
    """The backbone exists (a packaged name, a directory with a config, or a hub id) and takes
    `model.max_length` tokens; returns where it loads from. Reads its config.json itself (a
    hub id's from the hub): transformers' AutoConfig would import torch."""
    from ..models import backbone_file, load_error, resolve_backbone

    name = cfg.model.name
    resolved = resolve_backbone(name, cfg.model.revision)
    try:
        backbone = json.loads(backbone_file(resolved, "config.json", cfg.model.revision).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise load_error(name, resolved, exc) from None
    positions = backbone.get("max_position_embeddings") or backbone.get("n_positions")
    if isinstance(positions, int):
        usable = positions - _OFFSET_POSITIONS.get(backbone.get("model_type"), 0)
        if cfg.model.max_length > usable:
            raise ConfigError(f"model.max_length {cfg.model.max_length} is longer than {name} takes ({usable} positions)",
                              where=yaml_location(source, ("model", "max_length")) if source else None,
                              fix=f"set model.max_length to at most {usable}.")
    return resolved

