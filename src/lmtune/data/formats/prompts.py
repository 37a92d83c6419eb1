"""Generation data: a prompt (or chat messages) and the response to learn."""
from __future__ import annotations

from dataclasses import replace

from ..examples import PromptExample
from . import register_format
from .base import DataFormat, ReadOutcome


@register_format("generation")
class Prompts(DataFormat):
    @classmethod
    def read(cls, path, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        return cls._read(path, options, data_cfg.on_bad_rows, require_labels)

    @classmethod
    def unlabeled_example(cls, text, source):
        return PromptExample((("user", text),), None, source)

    @staticmethod
    def strip_label(example):
        return replace(example, response=None)

    @classmethod
    def read_inputs(cls, path, on_bad_rows, data_cfg, options) -> ReadOutcome:
        outcome = cls._read(path, options, on_bad_rows, require_response=False)
        outcome.sources = [ex.source for ex in outcome.examples]
        return outcome

    @staticmethod
    def _read(path, options, on_bad_rows: str, require_response: bool) -> ReadOutcome:
        from ..instructions import read_instructions

        result = read_instructions(path, prompt_column=options.prompt_column, response_column=options.response_column,
                                   messages_column=options.messages_column, on_bad_rows=on_bad_rows,
                                   require_response=require_response)
        return ReadOutcome(result.examples, result.rejects)
