"""Which few-shot defaults should `lmtune quickstart` use? One row per variant and seed.

Each variant is the quickstart (BBC News, 4 labels per class, 1,000 held-out docs, packaged
MiniLM) with --set style overrides. Prints a table (mean and std over seeds per variant).

    python benchmarks/quickstart_defaults.py --seeds 42 1 2 \
        "hf-like: model.head_init=random training.learning_rate=5e-5" \
        "lmtune: "
"""
from __future__ import annotations

import argparse
import statistics
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help='"name: key=value key=value"')
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--labels-per-class", type=int, default=4)
    args = parser.parse_args()

    from _machine import quiet_and_describe

    print(quiet_and_describe(), flush=True)
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    print(f"{'variant':<14} {'seed':>4} {'accuracy':>9} {'macro_f1':>9} {'train_s':>8} {'wall_s':>7}  overrides")
    results: dict[str, list[float]] = {}
    for spec in args.variants:
        name, _, rest = spec.partition(":")
        overrides = rest.split()
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                cfg = quickstart_config(args.labels_per_class, tmp, overrides + [f"seed={seed}"], method="supervised")
                r = train(cfg, overwrite=True, progress=False, log=lambda m: None)
            test = r.metrics["test"]
            results.setdefault(name, []).append(test["accuracy"])
            print(f"{name:<14} {seed:>4} {test['accuracy']:>9.4f} {test['macro_f1']:>9.4f} "
                  f"{r.metrics['train_seconds']:>8.1f} {r.seconds:>7.1f}  {' '.join(overrides)}", flush=True)
    print(f"\n{'variant':<14} {'mean acc':>9} {'std':>7} {'n':>3}")
    for name, accs in results.items():
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name:<14} {statistics.mean(accs):>9.4f} {std:>7.4f} {len(accs):>3}")


if __name__ == "__main__":
    main()
