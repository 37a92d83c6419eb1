"""How far the gate's estimate of the pool's class shares lies from the truth, from the rows the
label-efficiency benchmarks already wrote: every `gate` (and `gate_refused`) record in
benchmarks/results/*.jsonl, against each built-in dataset's own label shares. Columns: the
estimate, the estimate pulled halfway to even shares, and even shares alone, each as the total
variation distance (half the summed absolute differences; 0 = exact). No training.

    python benchmarks/gate_shares.py
"""
from __future__ import annotations

import collections
import statistics
from pathlib import Path

from _rows import load_rows

HERE = Path(__file__).resolve().parent


def distance(shares: dict, truth: dict) -> float:
    return sum(abs(shares.get(label, 0.0) - share) for label, share in truth.items()) / 2


def true_shares(dataset: str) -> dict:
    from lmtune.data.builtin import load_builtin

    counts = collections.Counter(example.label for example in load_builtin(dataset).examples)
    return {label: n / sum(counts.values()) for label, n in counts.items()}


def estimates(rows: list[dict]):
    """(dataset, estimated shares) of every gate verdict in the rows."""
    for row in rows:
        auto = row.get("auto") or {}
        for verdict in [auto.get("gate") or {}, *(auto.get("gate_refused") or {}).values()]:
            if verdict.get("pool_shares"):
                yield row["dataset"], verdict["pool_shares"]


def main() -> None:
    found = collections.defaultdict(list)
    for path in sorted((HERE / "results").glob("*.jsonl")):
        for dataset, shares in estimates(load_rows(path)):
            found[dataset].append(shares)
    print("dataset            verdicts  estimate  halfway to even  even shares")
    for dataset, all_shares in sorted(found.items()):
        truth = true_shares(dataset)
        even = {label: 1 / len(truth) for label in truth}
        halfway = [{label: (s.get(label, 0.0) + even[label]) / 2 for label in truth} for s in all_shares]
        print(f"{dataset:18} {len(all_shares):8}  {statistics.mean(distance(s, truth) for s in all_shares):8.2f}  "
              f"{statistics.mean(distance(s, truth) for s in halfway):15.2f}  {distance(even, truth):11.2f}")


if __name__ == "__main__":
    main()
