"""Texts into the studio's pool from a CSV/TSV/JSONL/Parquet/.txt file: a label column, where the
file has one, labels those rows (and adds their classes). Rows that cannot be used are counted
and named on the Data page, never dropped silently."""
from __future__ import annotations

import time
from pathlib import Path

from ..data.readers import read_examples
from .store import Store

REJECTS_SHOWN = 20


def import_file(store: Store, path: Path, *, text_column: str = "text", label_column: str = "label") -> dict:
    path = Path(path)
    if path.suffix.lower() == ".txt":  # a document per line
        lines = [(line.strip(), f"{path.name}:{number}")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)]
        rows, rejects = [(text, source, None) for text, source in lines if text], []
    else:
        result = read_examples(path, text_column=text_column, label_column=label_column, require_label=False,
                               on_bad_rows="skip")
        rows = [(ex.text, _short(ex.source, path), ex.label if ex.label not in (None, "") else None)
                for ex in result.examples]
        rejects = [f"{r.where()}: {r.reason}" for r in result.rejects]
    new_classes = sorted({label for _, _, label in rows if label is not None} - set(store.class_names()))
    if new_classes:
        store.add_classes(new_classes)
    counts = store.add_texts(rows)
    message = (f"{path.name}: {counts['added']} texts added ({counts['labeled']} with labels), "
               f"{counts['duplicates']} already in the pool" + (f", {len(rejects)} rows rejected" if rejects else ""))
    summary = {"file": path.name, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **counts, "rejected": len(rejects),
               "rejects": rejects[:REJECTS_SHOWN], "new_classes": new_classes, "message": message}
    store.set_meta("imports", [*store.get_meta("imports", []), summary])
    return summary


def _short(source: str | None, path: Path) -> str | None:
    """`/long/path/pool.csv:12` -> `pool.csv:12`: what the pages show beside a text."""
    return source.replace(str(path), path.name, 1) if source else source
