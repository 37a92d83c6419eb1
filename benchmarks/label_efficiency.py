"""Accuracy per label spent: lmtune's supervised and semi-supervised methods vs a plain
transformers Trainer script, SetFit and logistic-regression probes (frozen embeddings, TF-IDF),
same split, seeds and backbone (packaged MiniLM unless --model, max length 256), with 1, 2, 4
and 16 labels per class, and the fully supervised ceiling.

Each (dataset, labels per class, method, seed) is one row, appended to a JSONL file as it
finishes, so a killed run resumes where it stopped. The test set (1,000 docs) is the same for
every row of a dataset (fixed split seed); the labeled sample changes with the seed; the rest
of the pool is the unlabeled text (capped by --max-unlabeled). Prints the rows, then a summary:
mean ± std per setting and the fraction of the gap closed, (method - supervised) /
(fully supervised - supervised); writes a PNG of accuracy against labels per class.

`self-training+desc` is self-training with `bootstrap: descriptions`: besides the labels it is
given one short sentence per label (DESCRIPTIONS below), so its rows are named apart; so is
`auto+desc`, method auto given the same sentences. `auto` is what a user gets with no method
options at all.

Needs SetFit beside lmtune (a benchmark-only dependency): `.venv/bin/pip install setfit==1.2.0`.

    python benchmarks/label_efficiency.py                                   # the whole grid: many hours on 2 cores
    python benchmarks/label_efficiency.py --datasets bbc_news --labels 4 --seeds 42 \\
        --methods plain-trainer setfit supervised self-training --no-ceiling

`--dev` is for tuning: the test split is taken out of the dataset first, and the rows score a
dev split of the rest instead (same size, another split seed); they are recorded with
"split": "dev" and summarised apart, so no choice is made on the test sentences.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
BASELINES = ["plain-trainer", "setfit", "embedding-probe", "tfidf-probe"]
SPLIT_SEED = 0
DEV_SPLIT_SEED = 1  # --dev: the dev split, drawn from what the test split (SPLIT_SEED) leaves
# What a user writes for `bootstrap: descriptions`: one short sentence per label. The rows of
# this method know a little more than the others (these sentences), so they are named apart.
DESCRIPTIONS = {
    "bbc_news": {"business": "business news", "entertainment": "entertainment news", "politics": "politics news",
                 "sports": "sports news", "tech": "technology news"},
    "rotten_tomatoes": {"negative": "a negative review", "positive": "a positive review"},
}
DESCRIPTIONS["imdb"] = DESCRIPTIONS["rotten_tomatoes"]
DESCRIPTIONS["spam_assassin"] = {"ham": "a personal or work e-mail",
                                 "hard_ham": "a newsletter or commercial e-mail the reader signed up for",
                                 "spam": "an unsolicited advertising e-mail"}
WITH_DESCRIPTIONS = "self-training+desc"
AUTO_WITH_DESCRIPTIONS = "auto+desc"  # method auto, given the same sentences
AUTO_BACKBONE = "auto"  # --model auto: the config names no backbone (method auto may choose mpnet)


def method_overrides(method: str, dataset: str) -> list[str]:
    """The config overrides of an lmtune method row."""
    from lmtune.quickstart import METHOD_PRESETS

    described = f"method.label_descriptions={json.dumps(DESCRIPTIONS[dataset])}"
    if method == WITH_DESCRIPTIONS:
        return METHOD_PRESETS["self-training"] + ["method.bootstrap=descriptions", described]
    if method == AUTO_WITH_DESCRIPTIONS:
        return METHOD_PRESETS["auto"] + [described]
    return METHOD_PRESETS[method]


def data_config(dataset: str, labels_per_class: int | None, test_size: int, max_unlabeled: int | None,
                dev_file: Path | None = None) -> list[str]:
    """`dev_file` (--dev): the dataset without its test split, whose own held-out split the row scores."""
    source = ([f"data.train={dev_file}", "data.builtin=null", f"data.split_seed={DEV_SPLIT_SEED}"] if dev_file else
              [f"data.builtin={dataset}", f"data.split_seed={SPLIT_SEED}"])
    out = source + [f"data.test_size={test_size}",
                    f"data.labels_per_class={labels_per_class if labels_per_class else 'null'}"]
    return out + ([f"data.max_unlabeled={max_unlabeled}"] if max_unlabeled else [])


def without_test_split(dataset: str, test_size: int, path: Path) -> Path:
    """Write `dataset` less its test split (the one every test row scores) as JSONL to `path`."""
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split

    rest, _ = stratified_split(load_builtin(dataset).examples, test_size, SPLIT_SEED, "test")
    with path.open("w", encoding="utf-8") as handle:
        for example in rest:
            handle.write(json.dumps({"text": example.text, "label": example.label}) + "\n")
    return path


def run_row(dataset: str, k: int | None, method: str, seed: int, args) -> dict:
    """Train and score one row; returns accuracy, wall and CPU seconds."""
    import _baselines
    from lmtune.data import prepare_data
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        dev_file = without_test_split(dataset, args.test_size, Path(tmp) / "dev-pool.jsonl") if args.dev else None
        overrides = data_config(dataset, k, args.test_size, args.max_unlabeled, dev_file) + [
            f"seed={seed}", f"model.name={backbone(args)}"]
        if k is None:  # the ceiling: every pool label, a few epochs
            overrides += [f"training.epochs={args.ceiling_epochs}"]
        cfg = quickstart_config(k or 1, tmp + "/run", overrides + (method_overrides(method, dataset) + args.overrides
                                                          if method not in BASELINES else []))
        if args.model == AUTO_BACKBONE:  # no backbone named: method auto may choose a stronger packaged one
            given = {key: getattr(cfg.model, key) for key in cfg.model.model_fields_set - {"name"}}  # still left to auto
            cfg = cfg.model_copy(update={"model": type(cfg.model).model_validate(given)})
        if method in BASELINES:
            data = prepare_data(cfg.data, seed, "classification")
            fn = {"plain-trainer": lambda: _baselines.plain_trainer(
                      data.train, data.test, data.labels, output_dir=tmp + "/plain", seed=seed,
                      num_train_epochs=args.plain_epochs, backbone=backbone(args)),
                  "setfit": lambda: _baselines.setfit(data.train, data.test, data.labels, output_dir=tmp + "/setfit",
                                                      seed=seed, backbone=backbone(args)),
                  "embedding-probe": lambda: _baselines.embedding_probe(data.train, data.test, data.labels,
                                                                        backbone=backbone(args)),
                  "tfidf-probe": lambda: _baselines.tfidf_probe(data.train, data.test, data.labels)}[method]
            accuracy, chose = fn()["accuracy"], {}
        else:
            from lmtune import artifacts as art

            result = train(cfg, overwrite=True, progress=False,
                           log=(lambda m: print(f"  {m}", file=sys.stderr, flush=True)) if args.log else (lambda m: None))
            accuracy = result.metrics["test"]["accuracy"]
            auto = art.read_json(result.run_dir / art.RUN_FILE).get("auto")
            # what method auto chose and why, so a row below supervised can be traced to its decision
            kept = ("chosen", "why", "gate", "held_out", "training", "model", "backbone")
            chose = {"auto": {key: auto.get(key) for key in kept}} if auto else {}
    return {"dataset": dataset, "model": args.model, "split": "dev" if args.dev else "test",
            "labels_per_class": k, "method": row_method(method, k, args),
            "seed": seed,
            "accuracy": round(accuracy, 4), "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1), **chose}


def backbone(args) -> str:
    """The backbone the baselines (and the config, before --model auto unnames it) use."""
    return "default" if args.model == AUTO_BACKBONE else args.model


def row_method(method: str, k: int | None, args) -> str:
    """The method a row is recorded under: the ceiling is "fully-supervised"; an lmtune row run
    with --set overrides is another method, named by them (the baselines never take them)."""
    name = method if k else "fully-supervised"
    return name if method in BASELINES else name + "".join(f" [{o}]" for o in args.overrides)


def mean_std(values: list[float]) -> str:
    values = [100 * v for v in values]
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def summarise(rows: list[dict], methods: list[str]) -> None:
    print(f"\n{'dataset':<16} {'labels/class':>12} {'method':<20} {'accuracy %':>12} {'gap closed':>10} "
          f"{'wall min':>8} {'n':>2}")
    for dataset in sorted({r["dataset"] for r in rows}):
        ceiling = [r["accuracy"] for r in rows if r["dataset"] == dataset and r["labels_per_class"] is None]
        for k in sorted({r["labels_per_class"] for r in rows if r["dataset"] == dataset and r["labels_per_class"]}):
            cell = {m: [r for r in rows if r["dataset"] == dataset and r["labels_per_class"] == k and r["method"] == m]
                    for m in methods}
            base = [r["accuracy"] for r in cell.get("supervised", [])]
            for m, found in cell.items():
                if not found:
                    continue
                acc = [r["accuracy"] for r in found]
                gap = ""
                if ceiling and base and m not in ("supervised",):
                    span = statistics.mean(ceiling) - statistics.mean(base)
                    gap = f"{(statistics.mean(acc) - statistics.mean(base)) / span:.0%}" if span > 0 else "n/a"
                print(f"{dataset:<16} {k:>12} {m:<20} {mean_std(acc):>12} {gap:>10} "
                      f"{statistics.mean(r['wall_s'] for r in found) / 60:>8.1f} {len(found):>2}")
        if ceiling:
            print(f"{dataset:<16} {'all':>12} {'fully-supervised':<20} {mean_std(ceiling):>12} {'':>10} "
                  f"{'':>8} {len(ceiling):>2}")


def plot(rows: list[dict], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for m in methods:
            ks = sorted({r["labels_per_class"] for r in rows if r["dataset"] == dataset and r["method"] == m
                         and r["labels_per_class"]})
            if ks:
                means = [100 * statistics.mean(r["accuracy"] for r in rows if r["dataset"] == dataset and
                                               r["method"] == m and r["labels_per_class"] == k) for k in ks]
                ax.plot(ks, means, marker="o", label=m)
        ceiling = [r["accuracy"] for r in rows if r["dataset"] == dataset and r["labels_per_class"] is None]
        if ceiling:
            ax.axhline(100 * statistics.mean(ceiling), linestyle="--", color="grey", label="fully supervised")
        ax.set(xscale="log", xlabel="labels per class", ylabel="test accuracy %", title=dataset)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes"])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 2, 4, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    from lmtune.quickstart import METHOD_PRESETS

    parser.add_argument("--methods", nargs="+",
                        choices=BASELINES + list(METHOD_PRESETS) + [WITH_DESCRIPTIONS, AUTO_WITH_DESCRIPTIONS],
                        default=["tfidf-probe", "embedding-probe", "plain-trainer", "setfit", "supervised", "auto",
                                 "mlm-aux", "self-training", "consistency", "fixmatch", WITH_DESCRIPTIONS])
    parser.add_argument("--model", default="default",
                        help="backbone of every row: default (MiniLM), mpnet, a directory, or auto (none named: "
                             "method auto may choose mpnet; the baselines use default)")
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--max-unlabeled", type=int, default=3000, help="cap on the unlabeled pool per run")
    parser.add_argument("--plain-epochs", type=float, default=3.0, help="the Trainer's default")
    parser.add_argument("--ceiling-epochs", type=float, default=4.0)
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--log", action="store_true", help="print the lmtune rows' run log to stderr")
    parser.add_argument("--dev", action="store_true", help="tuning: score a dev split of the data without its test split")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="extra config override for the lmtune rows, e.g. --set method.align=false (repeatable)")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "label_efficiency.jsonl")
    parser.add_argument("--plot", type=Path, default=None,
                        help="default: benchmarks/label_efficiency.png (MiniLM), label_efficiency_<model>.png otherwise")
    args = parser.parse_args()

    if args.plot is None:
        args.plot = HERE / ("label_efficiency.png" if args.model == "default" else
                            f"label_efficiency_{Path(args.model).name}.png")
    from _machine import quiet_and_describe

    print(quiet_and_describe(f"model: {args.model}  test: {args.test_size}  max unlabeled: {args.max_unlabeled}"),
          flush=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in args.results.read_text().splitlines()] if args.results.exists() else []
    # rows before these fields: MiniLM, test split
    rows = [r for r in rows if r.get("model", "default") == args.model
            and r.get("split", "test") == ("dev" if args.dev else "test")]
    done = {(r["dataset"], r["labels_per_class"], r["method"], r["seed"]) for r in rows}
    todo = [(d, None, "supervised", args.seeds[0]) for d in args.datasets if not args.no_ceiling]
    todo += [(d, k, m, s) for d in args.datasets for k in args.labels for m in args.methods for s in args.seeds]
    print(f"{'dataset':<16} {'k':>3} {'method':<20} {'seed':>4} {'accuracy':>8} {'wall_s':>7} {'cpu_s':>7}", flush=True)
    for dataset, k, method, seed in todo:
        key = (dataset, k, row_method(method, k, args), seed)
        if key in done:
            continue
        row = run_row(dataset, k, method, seed, args)
        with args.results.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        rows.append(row)
        print(f"{dataset:<16} {k or 'all':>3} {row['method']:<20} {seed:>4} {row['accuracy']:>8.4f} "
              f"{row['wall_s']:>7.1f} {row['cpu_s']:>7.1f}", flush=True)
    wanted = [r for r in rows if r["dataset"] in args.datasets]
    methods = [row_method(m, 1, args) for m in args.methods]
    if args.overrides:  # the plain rows are the reference of the variant's
        methods = list(dict.fromkeys(["supervised"] + args.methods + methods))
    summarise(wanted, methods)
    if not args.dev:
        plot(wanted, methods, args.plot)
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
