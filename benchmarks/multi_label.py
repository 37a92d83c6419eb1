"""Multi-label on a set built from BBC News: lmtune `task: multi-label` against a one-vs-rest
logistic regression on TF-IDF, on the same labeled examples.

The set (built here, seeded): articles are split 70/30 into a train and a test side first, so
no article's words reach both. On each side, half the examples are one article's first 200
words (its topic as the one label), half are the first 100 words of two articles of different
topics, one after the other (both topics as labels). Both kinds are ~200 words, so the length
does not give the number of labels away; max_length 256 sees all of both halves. A constructed
task, not a natural corpus: labels never co-occur for a reason, and each half is a clean topic.

Each row: labels_per_class k (at least k examples of every label, counted per label), a 100-text
dev split (the thresholds are tuned there), 1,000 test texts; lmtune supervised with the
few-shot preset. Prints micro/macro-F1 of both with thresholds tuned on dev, and at 0.5.

    python benchmarks/multi_label.py --labels 4 16 --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
BUILD_SEED = 0


def lead(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def build(articles: list, n: int, rng: random.Random) -> list[dict]:
    """n examples from `articles`: half single (200 words), half two topics (100 words each)."""
    by_topic: dict[str, list] = {}
    for ex in articles:
        by_topic.setdefault(ex.label, []).append(ex)
    topics = sorted(by_topic)
    rows = []
    for i in range(n):
        if i % 2 == 0:
            ex = rng.choice(articles)
            rows.append({"text": lead(ex.text, 200), "label": [ex.label]})
        else:
            first, second = rng.sample(topics, 2)
            a, b = rng.choice(by_topic[first]), rng.choice(by_topic[second])
            rows.append({"text": lead(a.text, 100) + "\n\n" + lead(b.text, 100), "label": sorted([first, second])})
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def build_files(tmp: Path, pool_size: int, test_size: int) -> tuple[Path, Path]:
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split

    train_side, test_side = stratified_split(load_builtin("bbc_news").examples, 0.3, BUILD_SEED, "test")
    rng = random.Random(BUILD_SEED)
    return (write(tmp / "bbc-multi-train.jsonl", build(train_side, pool_size, rng)),
            write(tmp / "bbc-multi-test.jsonl", build(test_side, test_size, rng)))


def tfidf_one_vs_rest(train, dev, test, labels: list[str]) -> dict:
    """One logistic regression per label on TF-IDF; its thresholds tuned on the same dev split as
    lmtune's (at 0.5 a few positives per label leave every probability below it), both reported."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from lmtune.tasks.multi_label import label_matrix, multilabel_metrics, tune_thresholds

    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([e.text for e in train])
    model = OneVsRestClassifier(LogisticRegression(max_iter=2000)).fit(words.transform([e.text for e in train]),
                                                                       label_matrix(train, labels))
    thresholds = tune_thresholds(model.predict_proba(words.transform([e.text for e in dev])), label_matrix(dev, labels))
    probs, truth = model.predict_proba(words.transform([e.text for e in test])), label_matrix(test, labels)
    return {**multilabel_metrics(truth, probs >= thresholds[None], labels),
            "at_0.5": multilabel_metrics(truth, probs >= 0.5, labels)}


def run_row(files: tuple[Path, Path], method: str, k: int, seed: int, args) -> dict:
    from lmtune.data import prepare_data
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_config(k, tmp + "/run", [
            "task=multi-label", f"data.train={files[0]}", f"data.test={files[1]}", "data.builtin=null",
            f"data.dev_size={args.dev_size}", "data.split_seed=0", f"seed={seed}", f"model.name={args.model}",
            "training.early_stopping_patience=null"],  # the preset's fixed epochs: the dev split only tunes thresholds
            method="supervised")
        if method == "tfidf-ovr":
            data = prepare_data(cfg.data, seed, "multi-label")
            scores = tfidf_one_vs_rest(data.train, data.dev, data.test, data.labels)
            untuned = scores["at_0.5"]
        else:
            result = train(cfg, overwrite=True, progress=False, log=lambda m: None)
            scores = result.metrics["test"]
            untuned = scores.get("at_0.5")
    return {"model": args.model, "method": method, "labels_per_class": k, "seed": seed, "dev_size": args.dev_size,
            "micro_f1": round(scores["micro_f1"], 4), "macro_f1": round(scores["macro_f1"], 4),
            "subset_accuracy": round(scores["subset_accuracy"], 4),
            "macro_f1_at_0.5": round(untuned["macro_f1"], 4) if untuned else None,
            "micro_f1_at_0.5": round(untuned["micro_f1"], 4) if untuned else None,
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows, mean_sd

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["tfidf-ovr", "lmtune"], choices=["tfidf-ovr", "lmtune"])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dev-size", type=int, default=100)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "multi_label.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  dev: {args.dev_size}  test: 1000"), flush=True)
    done = load_rows(args.results)
    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(Path(tmp), 2000, 1000)
        for k in args.labels:
            for seed in args.seeds:
                for method in args.methods:
                    if any((r["method"], r["labels_per_class"], r["seed"], r["model"], r["dev_size"]) ==
                           (method, k, seed, args.model, args.dev_size) for r in done):
                        continue
                    row = run_row(files, method, k, seed, args)
                    append_row(args.results, row, done)
    print("\n| labels/class | method | micro-F1 % | macro-F1 % | subset accuracy % | macro-F1 at 0.5 % | seeds |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for k in args.labels:
        for method in args.methods:
            rows = [r for r in done if (r["method"], r["labels_per_class"], r["model"], r["dev_size"]) ==
                    (method, k, args.model, args.dev_size) and r["seed"] in args.seeds]
            if rows:
                at_half = [r["macro_f1_at_0.5"] for r in rows if r["macro_f1_at_0.5"] is not None]
                print(f"| {k} | {method} | {mean_sd([r['micro_f1'] for r in rows], 100)} | "
                      f"{mean_sd([r['macro_f1'] for r in rows], 100)} | {mean_sd([r['subset_accuracy'] for r in rows], 100)} | "
                      f"{mean_sd(at_half, 100) if at_half else '-'} | {len(rows)} |")


if __name__ == "__main__":
    main()
