"""Export formats: each writes a model's files into a directory and loads them back.

Formats register by name (`lmtune ls`). The `lmtune export` command that uses them (write,
check against the original, record) is recipes/export.py.
"""
from __future__ import annotations

from pathlib import Path

from ..registry import Registry


class ExportFormat:
    """Base class: `write` the model's files into a directory, `load` them back."""

    weight_files: tuple[str, ...] = ()  # what counts as the model's size on disk
    needs_adapters = False  # only meaningful for a run trained with peft adapters

    def write(self, model, out: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path):
        raise NotImplementedError


EXPORTS: Registry[ExportFormat] = Registry("export format")
register_export = EXPORTS.register

from . import formats, onnx  # noqa: E402,F401  (register themselves)
