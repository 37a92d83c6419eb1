"""Token-classification data: words and one tag per word (JSONL or CoNLL); raw text to tag."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from ...errors import DataError
from ..examples import TokenExample
from . import register_format
from .base import DataFormat, ReadOutcome

WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")  # raw text -> words (with their character offsets)


@register_format("token-classification")
class TaggedWords(DataFormat):
    @classmethod
    def read(cls, path, data_cfg, options, *, require_labels: bool = True) -> ReadOutcome:
        from ..token_readers import read_token_examples

        result = read_token_examples(path, fmt=data_cfg.format, tokens_column=options.tokens_column,
                                     tags_column=options.tags_column, scheme=options.tag_scheme,
                                     invalid_spans=options.invalid_spans, on_bad_rows=data_cfg.on_bad_rows,
                                     require_tags=require_labels)
        return ReadOutcome(result.examples, result.rejects, result.warnings)

    @classmethod
    def label_set(cls, examples) -> list[str]:
        tags = {t for ex in examples for t in ex.tags or ()}
        return sorted(tags, key=lambda t: (t != "O", t[2:] if len(t) > 2 and t[1] == "-" else t, t))

    @classmethod
    def check_splits(cls, pool, held_out, labels, where) -> list[str]:
        if len(labels) < 2:
            raise DataError(f"only one tag ({', '.join(labels)}) in the training sentences", where=where,
                            fix="a tagger needs at least two tags; check the tag column.")
        known, warnings = set(labels), []
        for split, examples in held_out.items():
            unseen = Counter(t for ex in examples for t in ex.tags or () if t not in known)
            if unseen:
                first = next(ex.source for ex in examples if set(ex.tags or ()) - known)
                warnings.append(f"{first}: {sum(unseen.values())} {split} words carry tags never seen in training "
                                f"({', '.join(t for t, _ in unseen.most_common(5))}{', ...' if len(unseen) > 5 else ''});"
                                " the model cannot predict them and they count as errors")
        return warnings

    @classmethod
    def unlabeled_example(cls, text, source):
        return TokenExample(tuple(m.group() for m in WORD.finditer(text)), None, source)

    @staticmethod
    def strip_label(example):
        return replace(example, tags=None)

    @classmethod
    def read_inputs(cls, path, on_bad_rows, data_cfg, options) -> ReadOutcome:
        """JSONL rows with `tokens` (pre-tokenised: tags back) or `text` (raw: entities with
        offsets); a CoNLL file (a tag column, if any, is ignored); otherwise one text per line."""
        from ..readers import ReadResult, bad_row, decoded_lines, existing_file
        from ..token_readers import FORMATS, read_token_examples

        path = Path(path)
        if FORMATS.get(path.suffix.lower()) == "conll" and path.suffix.lower() != ".txt":
            result = read_token_examples(path, on_bad_rows=on_bad_rows, require_tags=False, scheme="plain")
            return ReadOutcome([list(ex.tokens) for ex in result.examples], result.rejects)
        existing_file(path)
        seen, inputs = ReadResult(path), []
        for number, line in enumerate(decoded_lines(path, seen, on_bad_rows), 1):
            if not line.strip():
                continue
            if path.suffix.lower() not in (".jsonl", ".ndjson"):
                inputs.append(line.rstrip("\r"))
                continue
            try:
                row = json.loads(line)
                item = row.get(options.tokens_column, row.get("text")) if isinstance(row, dict) else None
            except json.JSONDecodeError:
                item = None
            ok = (isinstance(item, str) and item.strip()) or (
                isinstance(item, list) and item and all(isinstance(t, str) and t for t in item))
            if not ok:
                bad_row(seen, on_bad_rows, path, number, f"no {options.tokens_column!r} list of strings or "
                        "'text' string in this JSON line", line)
                continue
            inputs.append(item)
        return ReadOutcome(inputs, seen.rejects)
