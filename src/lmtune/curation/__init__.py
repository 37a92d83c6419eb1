"""Curation: the tools that look at data with a model's help and say what to fix or label next
(`lmtune data inspect / clean / label-issues / select / merge`). They sit above the training
library, since some of them load a finished run.

Imports are lazy, so `import lmtune.curation` stays cheap.
"""
from __future__ import annotations

_EXPORTS = {
    "inspect_data": "inspect", "save_plots": "inspect", "clean_file": "clean",
    "find_label_issues": "label_issues", "select_file": "active_learning", "merge_files": "active_learning",
    "acquire": "active_learning", "ACQUISITIONS": "acquisition",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
