"""Task-adaptive pretraining (TAPT) on IMDb review texts, then few-shot fine-tuning, versus
fine-tuning the packaged MiniLM directly: same seeds, same 1,000 held-out reviews.

The pretraining corpus is the IMDb pool outside the held-out set (a seeded subsample of
--texts reviews, to fit the time budget); the classifier never sees its labels except the K
per class it is given. Prints a table: accuracy mean and std over seeds per label budget.

    python benchmarks/dapt.py --texts 2000 --seeds 0 1 2 --labels 4 20
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000, help="IMDb reviews in the pretraining corpus")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--pretrain-epochs", type=float, default=1.0)
    parser.add_argument("--pretrain-lr", type=float, default=1e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--labels", type=int, nargs="+", default=[4, 20])
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--backbones", nargs="+", default=["base", "tapt"], choices=["base", "tapt"],
                        help="which to fine-tune (base runs do not depend on the TAPT settings)")
    args = parser.parse_args()

    from _machine import quiet_and_describe

    print(quiet_and_describe(f"max_length={args.max_length}"), flush=True)
    from lmtune.config import DataConfig
    from lmtune.data import prepare_data
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train
    from lmtune.recipes.pretrain import pretrain
    from lmtune.recipes.validation import load_config

    work = Path(tempfile.mkdtemp(prefix="lmtune-dapt-"))
    imdb = DataConfig(builtin="imdb", test_size=args.test_size, dev_size=0, split_seed=0)
    pool = prepare_data(imdb, seed=0, task="classification").train
    texts = [ex.text for ex in pool]
    random.Random(0).shuffle(texts)
    corpus = work / "imdb_corpus.txt"
    corpus.write_text("\n".join(texts[: args.texts]) + "\n", encoding="utf-8")

    started = time.time()
    cfg = load_config(None, base={
        "data": {"train": str(corpus), "dev_size": 100},
        "model": {"name": "default", "max_length": args.max_length},
        "pretrain": {"eval_tokens": 1024},
        "training": {"epochs": args.pretrain_epochs, "batch_size": 32, "learning_rate": args.pretrain_lr},
        "output_dir": str(work / "tapt"), "seed": 0})
    tapt = pretrain(cfg, progress=False, log=lambda m: None)
    m = tapt.metrics
    print(f"TAPT: {len(texts[: args.texts])} reviews, {m['encoding']['blocks']} blocks, {m['global_step']} steps, "
          f"{time.time() - started:.0f}s; held-out pseudo-perplexity {m['perplexity_before']:.2f} -> "
          f"{m['perplexity_after']:.2f}", flush=True)

    print(f"{'labels/class':>12} {'backbone':>9} {'seed':>4} {'accuracy':>9} {'train_s':>8}", flush=True)
    results: dict[tuple[int, str], list[float]] = {}
    for k in args.labels:
        for name, backbone in (("base", "default"), ("tapt", str(tapt.run_dir))):
            if name not in args.backbones:
                continue
            for seed in args.seeds:
                with tempfile.TemporaryDirectory(dir=work) as tmp:
                    cfg = quickstart_config(k, tmp, ["data.builtin=imdb", f"data.test_size={args.test_size}",
                                                     "data.split_seed=0", f"model.name={backbone}",
                                                     f"model.max_length={args.max_length}", f"seed={seed}"])
                    r = train(cfg, overwrite=True, progress=False, log=lambda m: None)
                acc = r.metrics["test"]["accuracy"]
                results.setdefault((k, name), []).append(acc)
                print(f"{k:>12} {name:>9} {seed:>4} {acc:>9.4f} {r.metrics['train_seconds']:>8.1f}", flush=True)

    print(f"\n{'labels/class':>12} {'base':>15} {'tapt':>15} {'gain':>7}")
    def fmt(v):
        return f"{statistics.mean(v):.4f}±{statistics.stdev(v) if len(v) > 1 else 0:.4f}" if v else "-"
    for k in args.labels:
        base, adapted = results.get((k, "base"), []), results.get((k, "tapt"), [])
        gain = f"{statistics.mean(adapted) - statistics.mean(base):>+7.4f}" if base and adapted else "-"
        print(f"{k:>12} {fmt(base):>15} {fmt(adapted):>15} {gain:>7}")
    print(f"TAPT cost: {m['train_seconds']:.0f}s for {m['global_step']} steps; total {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
