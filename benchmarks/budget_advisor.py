"""How good `lmtune data budget`'s predictions are: given 5 labels per class (what the advisor
measures its curve on: 1, 2 and 4 per class, each scored on the given rows it did not train on), it predicts the
accuracy at 8 and 16 per class; the truth is the same probe (logistic regression on the frozen
backbone's embeddings) trained on 8 and 16 labels per class drawn from the pool and scored on
the 1,000 held-out test docs of label_efficiency.py (same split seed).

Each (dataset, seed) is one row: the labeled sample changes with the seed, the test set does
not. Prints the rows and the mean absolute error per target; appends rows to a JSONL file.

    python benchmarks/budget_advisor.py --datasets bbc_news rotten_tomatoes spam_assassin
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 0
GIVEN = 5  # labels per class the advisor sees
TARGETS = (8, 16)


def sample_per_class(y: np.ndarray, k: int, rng) -> np.ndarray:
    return np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from _machine import quiet_and_describe
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split
    from lmtune.evaluation.learning_curve import budgets_for, fit_curve, measure_curve
    from lmtune.evaluation.predict import embed_texts
    from lmtune.loading import load_encoder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes", "spam_assassin"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2, 3, 4])
    parser.add_argument("--model", default="default")
    parser.add_argument("--curve-seeds", type=int, default=20, help="the advisor's own reshuffles (--seeds of the CLI)")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "budget_advisor.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  given: {GIVEN}/class  test: {args.test_size}"))
    encoder, tokenizer, max_length = load_encoder(args.model, 256)
    rows = []
    for dataset in args.datasets:
        pool, test = stratified_split(load_builtin(dataset).examples, args.test_size, SPLIT_SEED, "test")
        labels = sorted({e.label for e in pool})
        y_pool = np.array([labels.index(e.label) for e in pool])
        y_test = np.array([labels.index(e.label) for e in test])
        picked = {seed: {k: sample_per_class(y_pool, k, np.random.default_rng(seed)) for k in (GIVEN, *TARGETS)}
                  for seed in args.seeds}
        needed = sorted({int(i) for by_k in picked.values() for ids in by_k.values() for i in ids})
        x = dict(zip(needed, embed_texts(encoder, tokenizer, [pool[i].text for i in needed], max_length=max_length,
                                         progress=False)))
        x_test = embed_texts(encoder, tokenizer, [e.text for e in test], max_length=max_length, progress=False)
        for seed in args.seeds:
            given = picked[seed][GIVEN]
            curve = fit_curve(budgets_for(GIVEN), measure_curve(np.stack([x[i] for i in given]), y_pool[given],
                                                                 budgets_for(GIVEN), args.curve_seeds, seed), list(TARGETS),
                              1 / len(labels))
            row = {"dataset": dataset, "model": args.model, "seed": seed, "given_per_class": GIVEN}
            for k in TARGETS:
                ids = picked[seed][k]
                probe = LogisticRegression(max_iter=2000).fit(np.stack([x[i] for i in ids]), y_pool[ids])
                row[f"actual_{k}"] = round(float((probe.predict(x_test) == y_test).mean()), 4)
                row[f"predicted_{k}"] = round(curve.predicted[k], 4)
                row[f"range_{k}"] = [round(curve.low[k], 4), round(curve.high[k], 4)]
            rows.append(row)
            with args.results.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    print(f"\n{'dataset':<16} " + " ".join(f"{'predicted ' + str(k):>13} {'actual ' + str(k):>10} {'|error|':>8}"
                                          for k in TARGETS))
    for dataset in args.datasets:
        mine = [r for r in rows if r["dataset"] == dataset]
        cells = []
        for k in TARGETS:
            p, a = [100 * r[f"predicted_{k}"] for r in mine], [100 * r[f"actual_{k}"] for r in mine]
            error = statistics.mean(abs(x - y) for x, y in zip(p, a))
            cells.append(f"{statistics.mean(p):>13.1f} {statistics.mean(a):>10.1f} {error:>8.1f}")
        print(f"{dataset:<16} " + " ".join(cells))


if __name__ == "__main__":
    main()
