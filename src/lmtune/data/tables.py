"""Write rows back out in the format their file name says (CSV, TSV, JSONL, Parquet), atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..artifacts import atomic_write
from .readers import detect_format


def write_rows(path: str | Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """`columns` fixes the order (default: first-seen order over all rows)."""
    path = Path(path)
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    fmt = detect_format(path)
    if fmt in ("csv", "tsv"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        return atomic_write(path, buffer.getvalue())
    if fmt == "jsonl":
        return atomic_write(path, "".join(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False) + "\n"
                                          for row in rows))
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows]), buffer)
        return atomic_write(path, buffer.getvalue())
    return atomic_write(path, "".join(str(row.get(columns[0], "")).replace("\n", " ") + "\n" for row in rows))  # txt


def _cell(value) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value) \
        if isinstance(value, (list, dict)) else str(value)
