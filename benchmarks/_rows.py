"""Shared by the benchmark scripts that resume: their raw rows (JSONL) and the mean ± sd cells."""
from __future__ import annotations

import json
import statistics
from pathlib import Path


def load_rows(path: Path) -> list[dict]:
    """The rows a benchmark already wrote (none where the file is missing)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def append_row(path: Path, row: dict, done: list[dict]) -> None:
    """Write one finished row at once (a killed run resumes after it) and print it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    done.append(row)
    print(json.dumps(row), flush=True)


def mean_sd(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """'mean ± sd' of the values times `scale` (the mean alone for one value, a dash for none)."""
    values = [v * scale for v in values]
    if not values:
        return "–"
    mean = f"{statistics.mean(values):.{digits}f}"
    return f"{mean} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else mean
