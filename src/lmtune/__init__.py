"""lmtune: a pretrained language model + a few labels + raw domain text -> the best task model.

Public API (imports are lazy so `import lmtune` stays fast):
    train(cfg) -> TrainResult        pretrain(cfg) -> PretrainResult    evaluate(run_dir, file) -> metrics
    predict(run_dir, texts) -> rows  load_run(run_dir) -> Run       load_config(path, overrides)
"""
from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "train": ("lmtune.recipes.finetune", "train"),
    "pretrain": ("lmtune.recipes.pretrain", "pretrain"),
    "evaluate": ("lmtune.api", "evaluate"),
    "predict": ("lmtune.api", "predict"),
    "load_run": ("lmtune.loading", "load_run"),
    "load_config": ("lmtune.recipes.validation", "load_config"),
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'lmtune' has no attribute {name!r}")
