"""What each task reads, before any model exists: its files, its label set, the checks on its
splits, an unlabeled example, the inputs to predict. Registered under the task's name and
torch-free, so `prepare_data` and `lmtune validate` need no model library."""
from __future__ import annotations

from ...registry import Registry
from .base import DataFormat, ReadOutcome

FORMATS: Registry[DataFormat] = Registry("task")
register_format = FORMATS.register
get_format = FORMATS.get

from . import label_sets, prompts, tagged_words, texts  # noqa: E402,F401  (register themselves)

__all__ = ["FORMATS", "DataFormat", "ReadOutcome", "get_format", "register_format"]
