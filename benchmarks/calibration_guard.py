"""Which guard should decide whether a temperature fitted on the dev set is kept?

Trains each setting of benchmarks/calibration.py with `task_options.calibration: none`, scores
its dev and test splits, and asks, for every guard (k-fold cross-fitted held-out NLL on dev, kept
when the mean gain exceeds z standard errors; or always), what test ECE the run would ship.
The rule is chosen on the first half of each test split and reported on the second half.
Probabilities go to --probs (npz, not committed); one JSONL row per run with each guard's
decision and ECE. Rows resume from the JSONL.

    python benchmarks/calibration_guard.py --datasets bbc_news rotten_tomatoes --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
FOLDS = (2, 5, 10)
ZS = (0.0, 1.0, 2.0)
SETTINGS = ["supervised-16", "supervised-4"]


def scored_probs(dataset: str, setting: str, seed: int, args, path: Path) -> dict:
    from calibration import SETTINGS as CAL_SETTINGS
    from calibration import SPLIT_SEED, overrides_for
    from lmtune.data import prepare_data
    from lmtune.loading import load_run, task_of
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    if path.exists():
        return dict(np.load(path))
    k = CAL_SETTINGS[setting][0]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_config(k, tmp + "/run", [
            f"data.builtin={dataset}", f"data.split_seed={SPLIT_SEED}", f"data.test_size={args.test_size}",
            f"data.dev_size={args.dev_size}", f"seed={seed}", f"model.name={args.model}",
            "task_options.calibration=none", *overrides_for(setting, dataset)])
        result = train(cfg, overwrite=True, progress=False, log=lambda m: None)
        data = prepare_data(cfg.data, cfg.seed, cfg.task, cfg.task_options)
        run = load_run(result.run_dir)
        task = task_of(run)
        out = {}
        for split in ("dev", "test"):
            examples = getattr(data, split)
            out[split] = task.proba(run.model, [ex.text for ex in examples], desc=split)
            out[split + "_y"] = np.array([task.labels.index(ex.label) for ex in examples])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def guard_name(folds: int, z: float) -> str:
    return f"{folds}-fold z>{z:g}"


def guard_row(probs: dict) -> dict:
    from lmtune.evaluation.calibration import expected_calibration_error as ece
    from lmtune.evaluation.calibration import fit_temperature, gain_in_standard_errors, held_out_nll, rescale

    dev, dev_y, test, test_y = probs["dev"], probs["dev_y"], probs["test"], probs["test_y"]
    temperature = fit_temperature(dev, dev_y)
    half = len(test) // 2
    parts = {"choose": slice(0, half), "report": slice(half, None), "all": slice(None)}
    row = {"temperature": round(temperature, 4),
           "ece_as_trained": {p: round(ece(test[s], test_y[s]), 4) for p, s in parts.items()},
           "ece_calibrated": {p: round(ece(rescale(test[s], temperature), test_y[s]), 4) for p, s in parts.items()},
           "guards": {}}
    for folds in FOLDS:  # the shipped rule is significant_gain(*held_out_nll(...)) at its defaults
        t_stat = gain_in_standard_errors(*held_out_nll(dev, dev_y, folds))
        for z in ZS:
            row["guards"][guard_name(folds, z)] = {"t": round(t_stat, 2), "keeps": t_stat > z}
    return row


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows, mean_sd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes"])
    parser.add_argument("--settings", nargs="+", default=SETTINGS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dev-size", type=int, default=100)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--probs", type=Path, default=Path(tempfile.gettempdir()) / "lmtune_calibration_probs")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "calibration_guard.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  dev: {args.dev_size}  test: {args.test_size}"), flush=True)
    done = load_rows(args.results)
    have = {(r["dataset"], r["setting"], r["seed"]) for r in done if r["model"] == args.model}
    for dataset in args.datasets:
        for setting in args.settings:
            for seed in args.seeds:
                if (dataset, setting, seed) in have:
                    continue
                started = time.perf_counter()
                probs = scored_probs(dataset, setting, seed, args,
                                     args.probs / f"{dataset}_{setting}_{seed}_{args.model}.npz")
                row = {"dataset": dataset, "model": args.model, "setting": setting, "seed": seed,
                       "dev_size": args.dev_size, **guard_row(probs), "wall_s": round(time.perf_counter() - started, 1)}
                append_row(args.results, row, done)
    rows = [r for r in done if r["model"] == args.model and r["seed"] in args.seeds]
    print(f"\nmean test ECE each guard would ship, over {len(rows)} runs (first half of each test split "
          "chooses, the second reports)")
    print("| guard | runs kept | ECE, choosing half | ECE, reporting half |")
    print("|---|---:|---:|---:|")
    policies = {name: [r["guards"][name]["keeps"] for r in rows] for name in rows[0]["guards"]} if rows else {}
    policies["none (never)"] = [False] * len(rows)
    policies["always"] = [True] * len(rows)
    for name, keeps in policies.items():
        shipped = {p: np.mean([r["ece_calibrated" if k else "ece_as_trained"][p] for r, k in zip(rows, keeps)])
                   for p in ("choose", "report")}
        print(f"| {name} | {sum(keeps)}/{len(rows)} | {shipped['choose']:.4f} | {shipped['report']:.4f} |")
    from lmtune.evaluation.calibration import GUARD_FOLDS, GUARD_Z

    shipped_guard = guard_name(GUARD_FOLDS, GUARD_Z)
    print(f"\nper setting, whole test split, with the shipped guard ({shipped_guard})")
    print("| data | setting | runs kept | T kept | test ECE as trained | ECE shipped |")
    print("|---|---|---:|---|---:|---:|")
    for dataset, setting in sorted({(r["dataset"], r["setting"]) for r in rows}):
        group = [r for r in rows if (r["dataset"], r["setting"]) == (dataset, setting)]
        keeps = [r["guards"][shipped_guard]["keeps"] for r in group]
        temps = ", ".join(f"{r['temperature']:.2f}" if k else "-" for r, k in zip(group, keeps))
        before = [r["ece_as_trained"]["all"] for r in group]
        after = [r["ece_calibrated" if k else "ece_as_trained"]["all"] for r, k in zip(group, keeps)]
        print(f"| {dataset} | {setting} | {sum(keeps)}/{len(group)} | {temps} | {mean_sd(before, 1, 3)} | "
              f"{mean_sd(after, 1, 3)} |")


if __name__ == "__main__":
    main()
