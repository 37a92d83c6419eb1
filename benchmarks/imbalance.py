"""Imbalanced labels: BBC News with two topics cut to a tenth of their articles, a random
labeled sample of the rest, lmtune supervised with training.class_weights none / auto and
training.sampler: balanced. Test: a stratified 30% of the imbalanced corpus (as imbalanced as
the rest). Prints accuracy, macro-F1 and the rare topics' recall; rows resume from the JSONL.

    python benchmarks/imbalance.py --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
CORPUS_SEED = 0  # which articles of the rare topics are kept
VARIANTS = {"none": [], "class_weights=auto": ["training.class_weights=auto"],
            "sampler=balanced": ["training.sampler=balanced"]}


def write_corpus(path: Path, rare: list[str], keep: float) -> dict:
    """BBC News with `keep` of each rare topic's articles (seeded), as JSONL; returns the counts."""
    from lmtune.data.builtin import load_builtin

    rng = random.Random(CORPUS_SEED)
    rows = [ex for ex in load_builtin("bbc_news").examples if ex.label not in rare or rng.random() < keep]
    with path.open("w", encoding="utf-8") as handle:
        for ex in rows:
            handle.write(json.dumps({"text": ex.text, "label": ex.label}) + "\n")
    counts: dict[str, int] = {}
    for ex in rows:
        counts[ex.label] = counts.get(ex.label, 0) + 1
    return counts


def run_row(corpus: Path, variant: str, seed: int, args) -> dict:
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_config(4, tmp + "/run", [
            f"data.train={corpus}", "data.builtin=null", "data.labels_per_class=null",
            f"data.labeled_size={args.labeled}", "data.test_size=0.3", "data.split_seed=0", f"seed={seed}",
            f"model.name={args.model}", f"training.epochs={args.epochs}", *VARIANTS[variant]], method="supervised")
        result = train(cfg, overwrite=True, progress=False, log=lambda m: None)
        train_counts = result.data.summary()["train_per_class"]
    test = result.metrics["test"]
    return {"model": args.model, "variant": variant, "seed": seed, "labeled": args.labeled, "rare": args.rare,
            "epochs": args.epochs,
            "train_per_class": train_counts, "accuracy": round(test["accuracy"], 4),
            "macro_f1": round(test["macro_f1"], 4),
            "rare_recall": {lb: round(test["per_class"][lb]["recall"], 4) for lb in args.rare},
            "recall": {lb: round(row["recall"], 4) for lb, row in test["per_class"].items()},
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows, mean_sd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rare", nargs="+", default=["business", "tech"], help="the topics cut to --keep")
    parser.add_argument("--keep", type=float, default=0.1)
    parser.add_argument("--labeled", type=int, default=200, help="labeled training articles, drawn at random")
    parser.add_argument("--epochs", type=float, default=5, help="the few-shot preset's 15 are for 4 labels per class")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--model", default="default")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "imbalance.jsonl")
    args = parser.parse_args()
    done = load_rows(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "bbc-imbalanced.jsonl"
        counts = write_corpus(corpus, args.rare, args.keep)
        print(quiet_and_describe(f"model: {args.model}  corpus: {counts}  labeled: {args.labeled}"), flush=True)
        for variant in args.variants:
            for seed in args.seeds:
                if any(r["variant"] == variant and r["seed"] == seed and r["model"] == args.model
                       and r["labeled"] == args.labeled and r["rare"] == args.rare for r in done):
                    continue
                row = run_row(corpus, variant, seed, args)
                append_row(args.results, row, done)
    print("\n| variant | accuracy % | macro-F1 % | " + " | ".join(f"{lb} recall %" for lb in args.rare) + " | seeds |")
    print("|---|---:|---:|" + "---:|" * len(args.rare) + "---:|")
    for variant in args.variants:
        rows = [r for r in done if r["variant"] == variant and r["model"] == args.model and r["labeled"] == args.labeled
                and r["rare"] == args.rare and r["seed"] in args.seeds]
        if rows:
            print(f"| {variant} | {mean_sd([r['accuracy'] for r in rows], 100)} | "
                  f"{mean_sd([r['macro_f1'] for r in rows], 100)} | "
                  + " | ".join(mean_sd([r["rare_recall"][lb] for r in rows], 100) for lb in args.rare) + f" | {len(rows)} |")


if __name__ == "__main__":
    main()
