"""What to train with 16 labels per class: full fine-tuning vs LoRA vs AdaLoRA vs head-only vs
top-2 layers, each with and without FGM adversarial training.

Packaged MiniLM, BBC News (5 topics) and Rotten Tomatoes (2 classes), 16 labels per class,
the same 300 held-out texts per dataset for every row (split seed fixed), 3 training seeds.
Accuracy on the clean held-out texts and on perturbed copies (`lmtune eval --perturb typo,synonym`,
10% of the words), trainable parameters, peak RSS, training samples/s and the size of what the
run saves. Each configuration runs its seeds in a fresh process, so its peak RSS is its own.

    python benchmarks/peft_strategies.py                 # ~60 min on a 2-core AVX2 CPU
    python benchmarks/peft_strategies.py --datasets rotten_tomatoes --seeds 1
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

LABELS_PER_CLASS = 16
HELD_OUT = 300
SPLIT_SEED = 1234
PERTURB = ("typo", "synonym")
# max length 64 (BBC articles are cut to their opening; the table compares strategies within the
# time a 2-core CPU allows, not the best BBC score),
# 10 epochs, batch 8, no dev set: every label trains. Learning rates are the usual ones per
# strategy (adapters and a lone head need ~10x the full fine-tuning rate), not tuned here.
COMMON = ["model.max_length=64", "training.epochs=10", "training.batch_size=8", "data.dev_size=0",
          f"data.test_size={HELD_OUT}", f"data.split_seed={SPLIT_SEED}", f"data.labels_per_class={LABELS_PER_CLASS}"]
STRATEGIES = {
    "full": ["training.learning_rate=1e-4"],
    "lora": ["peft.method=lora", "peft.r=8", "peft.lora_alpha=16", "training.learning_rate=1e-3"],
    "adalora": ["peft.method=adalora", "peft.init_r=12", "peft.target_r=8", "training.learning_rate=1e-3"],
    "head-only": ["training.freeze=head-only", "training.learning_rate=1e-3"],
    "top-2": ["training.freeze=top-2", "training.learning_rate=2e-4"],
}
ATTACKS = {"": [], "fgm": ["adversarial.name=fgm", "adversarial.epsilon=0.1"]}


def run_configuration(opts: dict) -> dict:
    """All seeds of one (dataset, strategy, attack) in this process."""
    from _machine import quiet_and_describe

    quiet_and_describe()
    import lmtune
    from lmtune import artifacts as art
    from lmtune.data import prepare_data
    from lmtune.data.tables import write_rows
    from lmtune.recipes.validation import load_config

    rows = []
    for seed in opts["seeds"]:
        run_dir = Path(opts["tmp"]) / f"{opts['dataset']}-{opts['strategy']}-{opts['attack'] or 'plain'}-{seed}"
        cfg = load_config(None, [f"data.builtin={opts['dataset']}", f"seed={seed}", f"output_dir={run_dir}", *COMMON,
                                 *STRATEGIES[opts["strategy"]], *ATTACKS[opts["attack"]]])
        held_out = Path(opts["tmp"]) / f"{opts['dataset']}-held-out.csv"
        if not held_out.exists():
            test = prepare_data(cfg.data, seed, "classification").test
            write_rows(held_out, [{"text": ex.text, "label": ex.label} for ex in test])
        result = lmtune.train(cfg, progress=False, log=lambda m: None)
        metrics = lmtune.evaluate(run_dir, held_out, progress=False, save=False, quantize="none", perturb=PERTURB)
        info = art.read_json(run_dir / art.RUN_FILE)
        rows.append({"accuracy": metrics["accuracy"],
                     **{name: metrics["perturbed"][name]["accuracy"] for name in PERTURB},
                     "trainable": info["parameters"]["trainable"], "total": info["parameters"]["total"],
                     "samples_per_s": result.metrics.get("train_samples_per_second"),
                     "train_s": result.metrics.get("train_runtime"),
                     "saved_mb": sum(run_dir.joinpath(f).stat().st_size for f in
                                     ("model.safetensors", "adapter_model.safetensors") if run_dir.joinpath(f).is_file()) / 1e6})
    return {"rows": rows, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_fresh_process(opts: dict) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(run_configuration, (opts,))


def mean_std(values: list[float], scale: float = 100) -> str:
    values = [v * scale for v in values]
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["rotten_tomatoes", "bbc_news"])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--attacks", nargs="+", default=["none", "fgm"], choices=["none", "fgm"])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    from _machine import quiet_and_describe

    print(quiet_and_describe(f"labels/class: {LABELS_PER_CLASS}  held-out: {HELD_OUT}  seeds: {args.seeds}"))
    print(f"# settings: {' '.join(COMMON)}")
    header = ("dataset", "strategy", "FGM", "clean acc %", *(f"{p} acc %" for p in PERTURB), "trainable params",
              "peak RSS MB", "train samples/s", "saved MB", "minutes")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory(prefix="lmtune-peft-") as tmp:
        for dataset in args.datasets:
            for strategy in args.strategies:
                for attack in args.attacks:
                    attack = "" if attack == "none" else attack
                    started = time.time()
                    out = in_fresh_process({"tmp": tmp, "dataset": dataset, "strategy": strategy, "attack": attack,
                                            "seeds": list(range(42, 42 + args.seeds))})
                    rows = out["rows"]
                    trainable, total = rows[0]["trainable"], rows[0]["total"]
                    print("| " + " | ".join([
                        dataset, strategy, "yes" if attack else "no", mean_std([r["accuracy"] for r in rows]),
                        *(mean_std([r[p] for r in rows]) for p in PERTURB),
                        f"{trainable:,} ({trainable / total:.1%})", f"{out['peak_rss_mb']:.0f}",
                        f"{statistics.mean(r['samples_per_s'] for r in rows):.1f}",
                        f"{statistics.mean(r['saved_mb'] for r in rows):.1f}",
                        f"{(time.time() - started) / 60:.1f}"]) + " |", flush=True)


if __name__ == "__main__":
    main()
