"""CSV / TSV / JSONL / Parquet / TXT -> TextExample, with every bad row located (file:line).

Default policy is strict: the first bad row raises a DataError naming file, line and fix.
With on_bad_rows="skip" bad rows are collected as Rejects for the caller to write out.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from ..errors import DataError
from .examples import Reject, TextExample

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".pq": "parquet", ".txt": "txt"}


@dataclass
class ReadResult:
    path: Path
    examples: list[TextExample] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def read_examples(path: str | Path, *, text_column: str = "text", label_column: str | None = "label",
                  fmt: str = "auto", on_bad_rows: str = "error", require_label: bool = True,
                  keep_row: bool = False, parse_label=None) -> ReadResult:
    """Read one file. `label_column=None` or a file without that column gives unlabeled examples
    (allowed only when `require_label` is False). keep_row: each example keeps all its columns.
    parse_label(value) -> label (ValueError: a bad row); default one label as a string."""
    path = existing_file(path)
    fmt = detect_format(path, fmt)
    result = ReadResult(path)
    rows = _PARSERS[fmt](path, result, on_bad_rows, text_column)
    checked_columns = False
    for line, row, raw in rows:
        if not checked_columns:
            _check_columns(path, line, row, text_column, label_column, require_label, fmt)
            checked_columns = True
        try:
            example = _to_example(row, text_column, label_column, require_label, f"{path}:{line}", parse_label)
            result.examples.append(replace(example, row=dict(row)) if keep_row else example)
        except ValueError as exc:
            bad_row(result, on_bad_rows, path, line, str(exc), raw)
    if not result.examples:
        detail = f" ({len(result.rejects)} rejected)" if result.rejects else ""
        raise DataError(f"no usable rows{detail}", where=str(path), fix="check that the file has data rows under its header.")
    return result


def existing_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file",
                        fix="give the file inside it (data.train / --data take one CSV, TSV, JSONL or Parquet file; "
                            "a folder of .txt files goes to data.unlabeled).")
    if not path.is_file():
        raise DataError(f"file not found: {path}", fix="check the path (relative paths start from the current directory).")
    return path


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"cannot tell the format of {path.name!r} from its extension", where=str(path),
                        fix=f"rename it to one of {', '.join(sorted(FORMATS))} or set data.format.")
    return FORMATS[suffix]


def bad_row(result: ReadResult, on_bad_rows: str, path: Path, line: int, reason: str, raw: str) -> None:
    if on_bad_rows != "skip":
        raise DataError(reason, where=f"{path}:{line}",
                        fix="correct or remove that row, or set data.on_bad_rows=skip to write bad rows to a rejects file.")
    result.rejects.append(Reject(str(path), line, reason, raw[:2000]))


def _check_columns(path: Path, line: int, row: dict, text_column: str, label_column: str | None,
                   require_label: bool, fmt: str) -> None:
    if fmt == "jsonl":  # keys are checked per row; a JSONL file has no header
        return
    found = ", ".join(map(repr, row)) or "none"
    if text_column not in row:
        raise DataError(f"no text column {text_column!r}; columns found: {found}", where=f"{path}:1",
                        fix="set data.text_column (or --text-column) to one of those.")
    if require_label and label_column not in row:
        raise DataError(f"no label column {label_column!r}; columns found: {found}", where=f"{path}:1",
                        fix="set data.label_column (or --label-column) to one of those.")


def _to_example(row: dict, text_column: str, label_column: str | None, require_label: bool, source: str,
                parse_label=None) -> TextExample:
    if text_column not in row:
        raise ValueError(f"no {text_column!r} field; fields found: {', '.join(map(repr, row))}")
    text = row[text_column]
    if not isinstance(text, str):
        raise ValueError(f"text is {type(text).__name__}, not a string")
    if not text.strip():
        raise ValueError("empty or whitespace-only text")
    label = row.get(label_column) if label_column else None
    label = (parse_label or _label_str)(label)
    if label is None and require_label:
        raise ValueError(f"missing label in column {label_column!r}")
    return TextExample(text, label, source)


def _label_str(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        raise ValueError(f"label {value!r} is a {type(value).__name__}; one label per row is expected")
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------- decoding


def decoded_lines(path: Path, result: ReadResult, on_bad_rows: str) -> list[str]:
    """The file's lines as text; an undecodable line is an error (or a reject, kept as a blank line
    so that line numbers stay true)."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    out = []
    for number, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            reason = f"bytes that are not UTF-8 at column {exc.start + 1} ({raw[exc.start:exc.start + 4]!r})"
            if on_bad_rows != "skip":
                raise DataError(reason, where=f"{path}:{number}",
                                fix="re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or set data.on_bad_rows=skip.")
            result.rejects.append(Reject(str(path), number, reason, raw.decode("utf-8", "replace")[:2000]))
            out.append("")
    return out


# ---------------------------------------------------------------- parsers: yield (line, row, raw)


def _parse_delimited(delimiter: str):
    csv.field_size_limit(sys.maxsize)  # csv's default (131,072 characters) is shorter than many documents

    def parse(path: Path, result: ReadResult, on_bad_rows: str, text_column: str) -> Iterator[tuple[int, dict, str]]:
        text = "\n".join(decoded_lines(path, result, on_bad_rows))
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("the file is empty", where=str(path), fix="add a header row and data rows.") from None
        header = [h.strip() for h in header]
        seen: dict[str, int] = {}
        for number, name in enumerate(header, 1):
            if name in seen:  # a dict of the row would keep the last column silently
                raise DataError(f"column {name!r} appears twice in the header (columns {seen[name]} and {number})",
                                where=f"{path}:1", fix="rename or remove one of them.")
            seen[name] = number
        previous_end = reader.line_num
        rows = iter(reader)
        while True:
            try:
                fields = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. an unterminated quote swallowing the rest of the file
                raise DataError(f"unreadable {'CSV' if delimiter == ',' else 'TSV'} ({exc})",
                                where=f"{path}:{previous_end + 1}", fix="check the quoting on that line.") from None
            start, previous_end = previous_end + 1, reader.line_num
            if not fields:  # blank line: not a row
                continue
            if len(fields) != len(header):
                bad_row(result, on_bad_rows, path, start,
                     f"{len(fields)} fields where the header has {len(header)} (unquoted {delimiter!r} in the text?)",
                     delimiter.join(fields))
                continue
            yield start, dict(zip(header, fields)), delimiter.join(fields)
    return parse


def parse_jsonl(path: Path, result: ReadResult, on_bad_rows: str, text_column: str):
    for number, line in enumerate(decoded_lines(path, result, on_bad_rows), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            bad_row(result, on_bad_rows, path, number, f"malformed JSON ({exc.msg} at column {exc.colno})", line)
            continue
        if not isinstance(row, dict):
            bad_row(result, on_bad_rows, path, number, f"a JSON {type(row).__name__}, not an object", line)
            continue
        yield number, row, line


def _parse_parquet(path: Path, result: ReadResult, on_bad_rows: str, text_column: str):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"cannot read Parquet: {exc}", where=str(path), fix="check the file is a valid Parquet file.") from None
    for number, row in enumerate(table.to_pylist(), 1):
        yield number, row, json.dumps(row, default=str)[:2000]


def _parse_txt(path: Path, result: ReadResult, on_bad_rows: str, text_column: str):
    """One text per line, no header; blank lines are separators, not rows."""
    for number, line in enumerate(decoded_lines(path, result, on_bad_rows), 1):
        if line.strip():
            yield number, {text_column: line.rstrip("\r")}, line


_PARSERS = {"csv": _parse_delimited(","), "tsv": _parse_delimited("\t"), "jsonl": parse_jsonl,
            "parquet": _parse_parquet, "txt": _parse_txt}


def fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()
