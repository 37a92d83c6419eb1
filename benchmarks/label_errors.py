"""Label-error detection: flip 10% of the labels of a real dataset at random, run
`lmtune data label-issues` (5-fold out-of-fold probabilities from the packaged MiniLM's
embeddings + confident learning), and report precision and recall of the flipped rows among
the top 10% ranked, and among the rows cleanlab flags.

    python benchmarks/label_errors.py            # BBC News (2,225) and Rotten Tomatoes (first 3,000): ~5 min
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

FLIP = 0.10


def run(dataset: str, limit: int | None, seed: int, tmp: Path) -> dict:
    import csv

    from lmtune.curation.label_issues import find_label_issues
    from lmtune.data.builtin import load_builtin

    examples = load_builtin(dataset).examples
    if limit and len(examples) > limit:  # the same rows for every seed; the flips differ
        examples = random.Random(0).sample(examples, limit)
    rng = random.Random(seed)
    labels = sorted({ex.label for ex in examples})
    flipped = set(rng.sample(range(len(examples)), round(FLIP * len(examples))))
    path = tmp / f"{dataset}-noisy.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "row"])
        for i, ex in enumerate(examples):
            label = rng.choice([lb for lb in labels if lb != ex.label]) if i in flipped else ex.label
            writer.writerow([ex.text, label, i])
    started = time.time()
    report = find_label_issues(path, tmp / f"{dataset}-issues.csv", folds=5, seed=seed, max_length=256, progress=False)
    seconds = time.time() - started
    with (tmp / f"{dataset}-issues.csv").open(newline="", encoding="utf-8") as handle:
        ranked = list(csv.DictReader(handle))
    top = {int(r["row"]) for r in ranked[:len(flipped)]}
    flagged = {int(r["row"]) for r in ranked if r["flagged"] == "True"}
    suggested_right = sum(r["suggested_label"] == examples[int(r["row"])].label for r in ranked[:len(flipped)]
                          if int(r["row"]) in flipped)
    hits = len(top & flipped)
    return {"dataset": dataset, "rows": len(examples), "flipped": len(flipped),
            "precision_top": hits / len(top), "recall_top": hits / len(flipped),
            "flagged": len(flagged), "precision_flagged": len(flagged & flipped) / max(len(flagged), 1),
            "recall_flagged": len(flagged & flipped) / len(flipped),
            "suggestion_right": suggested_right / max(hits, 1), "oof_accuracy": report["out_of_fold_accuracy"],
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    from _machine import quiet_and_describe

    print(quiet_and_describe(f"flip: {FLIP:.0%} of labels at random (to another class)  seeds: {args.seeds}"))
    header = ("dataset", "rows", "flipped", "precision @ top 10%", "recall @ top 10%", "flagged rows",
              "precision flagged", "recall flagged", "suggested label right", "out-of-fold accuracy", "seconds")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory(prefix="lmtune-label-errors-") as tmp:
        for dataset, limit in (("bbc_news", None), ("rotten_tomatoes", 3000)):
            results = [run(dataset, limit, seed, Path(tmp)) for seed in range(args.seeds)]
            mean = lambda key: sum(r[key] for r in results) / len(results)  # noqa: E731
            spread = lambda key: f"{100 * mean(key):.1f} (" + ", ".join(f"{100 * r[key]:.1f}" for r in results) + ")"  # noqa: E731
            print(f"| {dataset} | {results[0]['rows']} | {results[0]['flipped']} | {spread('precision_top')} | "
                  f"{spread('recall_top')} | {mean('flagged'):.0f} | {spread('precision_flagged')} | "
                  f"{spread('recall_flagged')} | {100 * mean('suggestion_right'):.1f} | {100 * mean('oof_accuracy'):.1f} | "
                  f"{mean('seconds'):.0f} |", flush=True)


if __name__ == "__main__":
    main()
