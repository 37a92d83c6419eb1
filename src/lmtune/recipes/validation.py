"""The config's components check their own options before any compute is spent: the task's
`task_options`, the method's and the attack's options (and whether the method applies to the
task), and the peft section (handed to peft itself). `config.py` checks only the schema; this
module is what `lmtune.load_config`, `lmtune validate` and every recipe call.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from .. import config as schema
from ..config import RunConfig, friendly_error, yaml_location
from ..errors import ConfigError
from ..methods import get_method
from ..methods.adversarial import get_attack
from ..tasks import get_task
from ..training.peft import peft_config


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
    task_cls = get_task(cfg.task)
    try:
        task_cls.Config.model_validate(cfg.task_options)
    except ValidationError as exc:
        raise friendly_error(exc, source, prefix=("task_options",), model=task_cls.Config) from None
    method_cls = get_method(cfg.method.name)
    if method_cls.tasks is not None and cfg.task not in method_cls.tasks:
        raise ConfigError(f"method {cfg.method.name!r} does not apply to task {cfg.task!r}",
                          where=yaml_location(source, ("method", "name")) if source else None,
                          fix=f"it works with {', '.join(method_cls.tasks)}; use method.name: supervised or a method "
                              f"that applies (`lmtune ls`).")
    components = [("method", method_cls, cfg.method)]
    if cfg.adversarial:
        components.append(("adversarial", get_attack(cfg.adversarial.name), cfg.adversarial))
    for section, cls, spec in components:
        try:
            options = cls.Config.model_validate(spec.options())
        except ValidationError as exc:
            raise friendly_error(exc, source, prefix=(section,), model=cls.Config) from None
        refused = cls.check_options(options, cfg.task) if hasattr(cls, "check_options") else None
        if refused:
            key, problem, fix = refused
            raise ConfigError(problem, where=yaml_location(source, (section, key)) if source else None, fix=fix)
    if cfg.peft:
        if cfg.training.freeze != "none":
            raise ConfigError("peft and training.freeze both choose what trains",
                              where=yaml_location(source, ("training", "freeze")) if source else None,
                              fix="peft already freezes the backbone and trains its adapters and the head: "
                                  "leave training.freeze at none.")
        peft_config(cfg.peft, task_cls.peft_task_type, total_steps=1, where=source)
    return cfg


# Architectures whose positions start after the padding index: two of their positions are never used.
_OFFSET_POSITIONS = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "mpnet": 2, "longformer": 2}


def check_backbone(cfg: RunConfig, source: Path | None = None) -> str:
    """The backbone exists (a packaged name, a directory with a config, or a hub id) and takes
    `model.max_length` tokens; returns where it loads from."""
    from transformers import AutoConfig

    from ..models import load_error, resolve_backbone

    name = cfg.model.name
    resolved = resolve_backbone(name, cfg.model.revision)
    try:
        backbone = AutoConfig.from_pretrained(resolved, revision=cfg.model.revision)
    except (OSError, ValueError) as exc:
        raise load_error(name, resolved, exc) from None
    positions = getattr(backbone, "max_position_embeddings", None) or getattr(backbone, "n_positions", None)
    if positions:
        usable = positions - _OFFSET_POSITIONS.get(backbone.model_type, 0)
        if cfg.model.max_length > usable:
            raise ConfigError(f"model.max_length {cfg.model.max_length} is longer than {name} takes ({usable} positions)",
                              where=yaml_location(source, ("model", "max_length")) if source else None,
                              fix=f"set model.max_length to at most {usable}.")
    return resolved
