"""CoNLL / JSONL -> TokenExample, every bad sentence located (file:line) and never dropped silently.

CoNLL: one word per line, columns split by tabs or spaces, the word first and its tag last;
a blank line ends a sentence; `-DOCSTART-` lines are document markers and are skipped.
JSONL: one sentence per line, `{"tokens": [...], "tags": [...]}` (column names configurable).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .examples import TokenExample
from .readers import ReadResult, bad_row, decoded_lines, existing_file, parse_jsonl
from .tags import detect_scheme, odd_tags, repair, tag_problem, transition_problems

FORMATS = {".conll": "conll", ".iob": "conll", ".bio": "conll", ".txt": "conll", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class TokenReadResult(ReadResult):
    warnings: list[str] = field(default_factory=list)
    scheme: str = "plain"


def read_token_examples(path: str | Path, *, fmt: str = "auto", tokens_column: str = "tokens",
                        tags_column: str = "tags", scheme: str = "auto", invalid_spans: str = "error",
                        on_bad_rows: str = "error", require_tags: bool = True) -> TokenReadResult:
    """Read one file of sentences. scheme: auto | bio | bioes | plain (auto: from the tags found).
    invalid_spans, for an I-X that starts a span under strict BIO/BIOES: error (stop at it), warn
    (keep it, counted in `warnings`; scored leniently as seqeval does), repair (read it as B-X)."""
    path = existing_file(path)
    fmt = fmt if fmt not in ("auto", None) else FORMATS.get(path.suffix.lower())
    if fmt not in ("conll", "jsonl"):
        raise DataError(f"cannot read {path.name!r} as token-classification data", where=str(path),
                        fix="use a CoNLL file (.conll/.iob/.bio/.txt) or JSONL with tokens and tags, or set data.format.")
    result = TokenReadResult(path)
    parse = _conll if fmt == "conll" else _jsonl
    sentences = list(parse(path, result, on_bad_rows, tokens_column, tags_column, require_tags))
    found = {t for _, _, tags in sentences if tags for t in tags}
    result.scheme = detect_scheme(found) if scheme == "auto" else scheme

    def word_line(line: int, index: int) -> int:  # CoNLL: a word per line; JSONL: a sentence per line
        return line + index if fmt == "conll" else line

    if scheme == "auto" and result.scheme == "plain" and (odd := odd_tags(found)):
        first = next((word_line(line, tags.index(t)), t) for line, _, tags in sentences if tags
                     for t in tags if t in odd)
        result.warnings.append(
            f"{path}:{first[0]}: tag {first[1]!r}" + (f" (and {', '.join(map(repr, odd[1:5]))})" if len(odd) > 1 else "")
            + " is not O or B-/I-TYPE while the other tags are: with it the file reads as plain tags, each scored "
              "alone instead of as entity spans. Correct it, or set task_options.tag_scheme: bio to reject such rows")
    for line, tokens, tags in sentences:
        if tags is not None:
            problem = next(((i, p) for i, p in enumerate(tag_problem(t, result.scheme) for t in tags) if p), None)
            if problem:
                bad_row(result, on_bad_rows, path, word_line(line, problem[0]), problem[1],
                        " ".join(f"{w}/{t}" for w, t in zip(tokens, tags)))
                continue
            broken = transition_problems(tags, result.scheme)
            if broken:
                where = f"{path}:{word_line(line, broken[0][0])}"
                if invalid_spans == "error":
                    raise DataError(f"{broken[0][1]} (strict {result.scheme.upper()})", where=where,
                                    fix="correct the tag, or set task_options.invalid_spans to warn (keep it) or "
                                        "repair (read it as the start of a span).")
                if invalid_spans == "repair":
                    tags = repair(list(tags))
                result.warnings.append(f"{where}: {broken[0][1]}"
                                       + (f" (+{len(broken) - 1} more)" if len(broken) > 1 else ""))
            tags = tuple(tags)
        result.examples.append(TokenExample(tuple(tokens), tags, f"{path.name}:{line}"))
    return result


def _conll(path: Path, result: TokenReadResult, on_bad_rows: str, tokens_column: str, tags_column: str,
           require_tags: bool):
    """Yields (first line, words, tags or None) per sentence; a sentence with a bad line is rejected whole."""
    columns = None
    words: list[str] = []
    tags: list[str] = []
    start, broken = 0, False
    lines = decoded_lines(path, result, on_bad_rows) + [""]
    for number, raw in enumerate(lines, 1):
        fields = raw.split()
        if not fields or fields[0] == "-DOCSTART-":
            if words and not broken:
                yield start, words, tags if columns and columns > 1 else None
            words, tags, broken = [], [], False
            continue
        if not words and not broken:
            start = number
        columns = columns or len(fields)
        if broken:
            continue
        if len(fields) != columns:
            bad_row(result, on_bad_rows, path, number,
                 f"{len(fields)} columns where the file's first line has {columns} (a space inside a word?)", raw)
            broken = True  # the rest of this sentence is skipped with it
            continue
        if require_tags and columns < 2:
            raise DataError("one column per line: words without tags", where=f"{path}:{number}",
                            fix="add the tag as the last column (word TAB tag), or predict with this file instead.")
        words.append(fields[0])
        tags.append(fields[-1])


def _jsonl(path: Path, result: TokenReadResult, on_bad_rows: str, tokens_column: str, tags_column: str,
           require_tags: bool):
    for number, row, line in parse_jsonl(path, result, on_bad_rows, tokens_column):
        try:
            tokens, tags = row.get(tokens_column), row.get(tags_column)
            if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) and t.strip() for t in tokens):
                raise ValueError(f"{tokens_column!r} must be a non-empty list of non-empty strings")
            if tags is None and require_tags:
                raise ValueError(f"no {tags_column!r} list (fields found: {', '.join(map(repr, row))})")
            if tags is not None:
                if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
                    raise ValueError(f"{tags_column!r} must be a list of strings")
                if len(tags) != len(tokens):
                    raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
        except ValueError as exc:
            bad_row(result, on_bad_rows, path, number, str(exc), line)
            continue
        yield number, tokens, tags
