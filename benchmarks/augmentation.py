"""Does augmentation help with 4 labels per class? The quickstart task (BBC News, packaged
MiniLM, 4 labels per class, same seeds and held-out docs) trained on the labeled rows alone,
and on the rows plus 2 augmented copies each from `lmtune data augment`.

    python benchmarks/augmentation.py             # ~15 min on a 2-core AVX2 CPU
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HELD_OUT = 500
# the quickstart preset at max length 128 (half the cost; the comparison is with vs without)
SETTINGS = ["model.max_length=128", f"data.test_size={HELD_OUT}", "data.split_seed=1234"]


def one(method: str | None, seed: int, tmp: Path) -> dict:
    import lmtune
    from lmtune.data import prepare_data
    from lmtune.data.augment import augment_file
    from lmtune.data.tables import write_rows
    from lmtune.quickstart import quickstart_config

    def write_examples(path, examples):
        return write_rows(path, [{"text": ex.text, "label": ex.label} for ex in examples])

    base = quickstart_config(4, str(tmp / "unused"), [*SETTINGS, f"seed={seed}"])
    data = prepare_data(base.data, seed, "classification")
    train = write_examples(tmp / f"train-{seed}.csv", data.train)
    test = write_examples(tmp / "test.csv", data.test)
    if method:
        augment_file(train, tmp / f"train-{seed}-{method}.csv", method, n=2, seed=seed, progress=False)
        train = tmp / f"train-{seed}-{method}.csv"
    cfg = quickstart_config(4, str(tmp / f"run-{method}-{seed}"),
                            [*SETTINGS, f"seed={seed}", "data.builtin=null", f"data.train={train}",
                             f"data.test={test}", "data.labels_per_class=null"], method="supervised")
    started = time.time()
    result = lmtune.train(cfg, progress=False, log=lambda m: None)
    return {"accuracy": result.metrics["test"]["accuracy"], "rows": len(result.data.train),
            "seconds": time.time() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["none", "synonym", "deletion"])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    from _machine import quiet_and_describe

    print(quiet_and_describe(f"bbc_news, 4 labels/class, held-out {HELD_OUT}, seeds {args.seeds}, {' '.join(SETTINGS)}"))
    print("| training rows | accuracy % (mean ± std) | per seed | train seconds |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="lmtune-aug-") as tmp:
        for method in args.methods:
            rows = [one(None if method == "none" else method, seed, Path(tmp)) for seed in range(42, 42 + args.seeds)]
            accs = [100 * r["accuracy"] for r in rows]
            label = "labeled only" if method == "none" else f"+ 2 {method} copies each"
            print(f"| {label} ({rows[0]['rows']}) | {statistics.mean(accs):.1f} ± {statistics.stdev(accs):.1f} | "
                  f"{', '.join(f'{a:.1f}' for a in accs)} | {statistics.mean(r['seconds'] for r in rows):.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
