"""`task_options` of each task."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..config import StrictModel
from . import TASK_OPTIONS, Options


class ClassificationOptions(StrictModel):
    # The class shares the model predicts with (tasks/class_prior.py). labeled: as trained;
    # {label: share, ...}: shares the user knows (a spam rate, a fraud rate); pool: estimated from
    # the model's predictions of the unlabeled pool (unreliable from a few labels: docs/training.md)
    class_prior: Literal["labeled", "pool"] | dict[str, float] = "labeled"
    # temperature: after training, one temperature fitted on the dev set divides the logits (its
    # labels unchanged, its probabilities calibrated); needs a dev set (data.dev_size)
    calibration: Literal["temperature", "none"] = "temperature"
    # texts longer than model.max_length: truncate (read their start) | chunks (overlapping
    # windows sharing `stride` tokens; a labeled text's windows all train with its label, and a
    # prediction aggregates the logits of all its windows: their mean, or each class's max)
    long_text: Literal["truncate", "chunks"] = "truncate"
    stride: int = Field(32, ge=0, description="tokens shared by consecutive windows (long_text: chunks)")
    aggregate: Literal["mean", "max"] = "mean"
    max_windows: int | None = Field(None, ge=1, description="windows read per text, its first ones; null: all")

    @field_validator("class_prior")
    @classmethod
    def _positive_shares(cls, value):
        if isinstance(value, dict) and (not value or any(v <= 0 for v in value.values())):
            raise ValueError("class_prior shares must be positive numbers, one per label, e.g. {spam: 0.3, ham: 0.7}")
        return value


class MultiLabelOptions(StrictModel):
    label_separator: str = Field("|", min_length=1, description="CSV/TSV: labels joined by this (JSONL may give a list)")
    labels: list[str] | None = None  # the label set; a row naming another fails (default: those found in train)
    allow_empty: bool = False  # rows with no label at all (none applies) are valid
    # tuned: each label's threshold set on the dev set for its F1 (folded into the model, so
    # every path predicts with it); fixed: 0.5
    thresholds: Literal["tuned", "fixed"] = "tuned"


class TokenOptions(StrictModel):
    tokens_column: str = "tokens"  # JSONL field names
    tags_column: str = "tags"
    tag_scheme: Literal["auto", "bio", "bioes", "plain"] = "auto"
    # an I-X that starts a span under strict BIO/BIOES: error | warn (keep, scored leniently) | repair (read as B-X)
    invalid_spans: Literal["error", "warn", "repair"] = "error"
    label_subtokens: Literal["first", "all"] = "first"
    stride: int = Field(32, ge=0, description="sub-tokens shared by consecutive windows of a long sentence")


class GenerationOptions(StrictModel):
    prompt_column: str = "prompt"  # JSONL field names
    response_column: str = "response"
    messages_column: str = "messages"
    template: Literal["auto", "chat", "simple"] = "auto"  # auto: the tokenizer's chat template if it has one
    # concatenate whole training examples into blocks of up to model.max_length tokens (less
    # padding; examples in one block attend to each other); never splits an example
    packing: bool = False
    max_new_tokens: int = Field(128, ge=1)
    do_sample: bool = False  # false: greedy
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    eval_generations: int = Field(32, ge=0, description="dev/test prompts generated after training and written out")


TASK_OPTIONS.register("classification")(Options(
    ClassificationOptions, "Sequence classification: one label per text (accuracy, macro-F1, per-class report)."))
TASK_OPTIONS.register("multi-label")(Options(
    MultiLabelOptions, "Several labels per text: sigmoid + BCE, micro/macro/samples F1, per-label thresholds tuned on dev."))
TASK_OPTIONS.register("token-classification")(Options(
    TokenOptions, "One tag per word: seqeval entity precision/recall/F1 per type (BIO/BIOES), token accuracy."))
TASK_OPTIONS.register("generation")(Options(
    GenerationOptions, "Prompt -> response with a causal LM: response-only loss; dev loss/perplexity, generations, "
                       "exact match and token F1."))
