"""Long documents: BBC News articles (~400 words) at model.max_length 128, cut at 128 tokens
(task_options.long_text: truncate) or read in overlapping windows (chunks: stride 32, the mean
of the windows' logits), lmtune supervised on a few labels per class; test accuracy, and the
test set's docs/s (predict, fp32/bf16 as `auto` picks, 2 threads). Rows resume from the JSONL.

    python benchmarks/long_text.py --labels 16 --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 0
MODES = {"truncate": ["task_options.long_text=truncate"],
         "chunks": ["task_options.long_text=chunks", "task_options.stride=32"]}


def run_row(dataset: str, mode: str, k: int, seed: int, args) -> dict:
    import lmtune
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_config(k, tmp + "/run", [
            f"data.builtin={dataset}", f"data.split_seed={SPLIT_SEED}", f"data.test_size={args.test_size}",
            f"seed={seed}", f"model.name={args.model}", f"model.max_length={args.max_length}", *MODES[mode]],
            method="supervised")
        result = train(cfg, overwrite=True, progress=False, log=lambda m: None)
        trained = time.perf_counter() - started
        _, test = stratified_split(load_builtin(dataset).examples, args.test_size, SPLIT_SEED, "test")
        texts = [ex.text for ex in test]
        run = lmtune.load_run(result.run_dir)
        lmtune.predict(run, texts[:32], progress=False)  # warm-up
        timed = time.perf_counter()
        lmtune.predict(run, texts, progress=False)
        docs_per_s = len(texts) / (time.perf_counter() - timed)
    return {"dataset": dataset, "model": args.model, "mode": mode, "labels_per_class": k, "seed": seed,
            "max_length": args.max_length, "accuracy": round(result.metrics["test"]["accuracy"], 4),
            "macro_f1": round(result.metrics["test"]["macro_f1"], 4), "docs_per_s": round(docs_per_s, 1),
            "train_s": round(trained, 1), "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows, mean_sd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news"])
    parser.add_argument("--labels", type=int, nargs="+", default=[16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--model", default="default")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "long_text.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  max_length: {args.max_length}  test: {args.test_size}"), flush=True)
    done = load_rows(args.results)
    same = lambda r, d, m, k: (r["dataset"], r["mode"], r["labels_per_class"], r["model"], r["max_length"]) == (  # noqa: E731
        d, m, k, args.model, args.max_length)
    for dataset in args.datasets:
        for k in args.labels:
            for seed in args.seeds:
                for mode in MODES:
                    if any(same(r, dataset, mode, k) and r["seed"] == seed for r in done):
                        continue
                    row = run_row(dataset, mode, k, seed, args)
                    append_row(args.results, row, done)
    print("\n| data | labels/class | long_text | accuracy % | macro-F1 % | test docs/s | train s | seeds |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for dataset in args.datasets:
        for k in args.labels:
            for mode in MODES:
                rows = [r for r in done if same(r, dataset, mode, k) and r["seed"] in args.seeds]
                if rows:
                    print(f"| {dataset} | {k} | {mode} | {mean_sd([100 * r['accuracy'] for r in rows])} | "
                          f"{mean_sd([100 * r['macro_f1'] for r in rows])} | {mean_sd([r['docs_per_s'] for r in rows])} | "
                          f"{mean_sd([r['train_s'] for r in rows], 1, 0)} | {len(rows)} |")


if __name__ == "__main__":
    main()
