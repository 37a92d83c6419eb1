"""Calibration: test ECE before and after the temperature lmtune fits on the dev split
(task_options.calibration: temperature, the default), with the accuracy of both.

One run gives both numbers: the saved model carries the temperature, and the run's metrics
hold the test split scored with it and without it ("uncalibrated"). Rows resume from the JSONL.

    python benchmarks/calibration.py --datasets bbc_news rotten_tomatoes --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 0
# (name, labels per class, overrides on the quickstart preset); self-training reads the
# label descriptions on Rotten Tomatoes (the preset of BENCHMARKS.md), clusters elsewhere
SETTINGS = {"supervised-16": (16, ["method.name=supervised"]),
            "supervised-4": (4, ["method.name=supervised"]),
            "self-training-4": (4, None)}


def overrides_for(setting: str, dataset: str) -> list[str]:
    from label_efficiency import method_overrides

    k, fixed = SETTINGS[setting]
    if fixed is not None:
        return fixed
    return method_overrides("self-training+desc" if dataset == "rotten_tomatoes" else "self-training", dataset)


def run_row(dataset: str, setting: str, seed: int, args) -> dict:
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    k = SETTINGS[setting][0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_config(k, tmp + "/run", [
            f"data.builtin={dataset}", f"data.split_seed={SPLIT_SEED}", f"data.test_size={args.test_size}",
            f"data.dev_size={args.dev_size}", f"seed={seed}", f"model.name={args.model}",
            *overrides_for(setting, dataset)])
        result = train(cfg, overwrite=True, progress=False, log=lambda m: None)
        info = json.loads((result.run_dir / "lmtune_run.json").read_text())
    test = result.metrics["test"]
    before = test.get("uncalibrated", {"ece": test["ece"], "nll": test["nll"]})
    return {"dataset": dataset, "model": args.model, "setting": setting, "seed": seed, "dev_size": args.dev_size,
            "temperature": info["calibration"]["temperature"], "accuracy": round(test["accuracy"], 4),
            "ece_before": before["ece"], "ece_after": test["ece"], "nll_before": before["nll"], "nll_after": test["nll"],
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows, mean_sd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dev-size", type=int, default=100, help="labeled dev texts the temperature is fitted on")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "calibration.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  dev: {args.dev_size}  test: {args.test_size}"), flush=True)
    done = load_rows(args.results)
    key = lambda r: (r["dataset"], r["model"], r["setting"], r["seed"], r["dev_size"])  # noqa: E731
    have = {key(r) for r in done}
    for dataset in args.datasets:
        for setting in args.settings:
            for seed in args.seeds:
                if (dataset, args.model, setting, seed, args.dev_size) in have:
                    continue
                row = run_row(dataset, setting, seed, args)
                append_row(args.results, row, done)
    print("\n| data | setting | accuracy % | T | test ECE before | after | NLL before | after | seeds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for dataset in args.datasets:
        for setting in args.settings:
            rows = [r for r in done if r["dataset"] == dataset and r["setting"] == setting and r["model"] == args.model
                    and r["dev_size"] == args.dev_size and r["seed"] in args.seeds]
            if rows:
                print(f"| {dataset} | {setting} | {mean_sd([r['accuracy'] for r in rows], 100, 1)} | "
                      f"{mean_sd([r['temperature'] for r in rows], 1, 3)} | {mean_sd([r['ece_before'] for r in rows], 1, 3)} | "
                      f"{mean_sd([r['ece_after'] for r in rows], 1, 3)} | {mean_sd([r['nll_before'] for r in rows], 1, 3)} | "
                      f"{mean_sd([r['nll_after'] for r in rows], 1, 3)} | {len(rows)} |")


if __name__ == "__main__":
    main()
