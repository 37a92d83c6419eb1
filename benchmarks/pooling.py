"""What a classification head reads, before any training: frozen probes of the backbone's first
token (what BERT's head reads through its pooler, `model.pooling: first`), of the mean of its
tokens (what sentence-transformers backbones were trained to give, and the embedding probe of
label_efficiency.py reads), and of the features behind `model.pooling: mean`'s appended layer.

Each feature set is probed two ways on the same labeled samples: logistic regression, and the
nearest class mean (what `head_init: prototype` starts the head as). Scored on a dev split: the
dataset without label_efficiency.py's test split, the first --dev-size texts of the rest (a
shuffle by --split-seed); labeled samples of --labels per class drawn from the other texts, one
per seed. Prints mean ± std over the seeds; appends one row per (dataset, features, seed).

    python benchmarks/pooling.py --datasets rotten_tomatoes spam_assassin bbc_news
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
FEATURES = ("first token (pooler)", "mean of tokens", "appended averaging layer (pooler)")


def features(model, tokenizer, texts: list[str], max_length: int, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Each feature set of FEATURES for `texts`; `model` is a BERT-style sequence classifier."""
    import copy

    import torch

    from lmtune.evaluation.predict import embed_texts
    from lmtune.models import backbone_of
    from lmtune.tasks.classification import head_features, output_layer
    from lmtune.tasks.pooling import add_mean_pooling

    pooled = copy.deepcopy(model)
    add_mean_pooling(pooled)
    heads = {FEATURES[0]: model, FEATURES[2]: pooled}
    out: dict[str, list] = {name: [] for name in heads}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")
            for name, task_model in heads.items():
                with head_features(output_layer(task_model, task_model.config.num_labels)) as captured:
                    task_model(**batch)
                out[name].append(captured[0])
    rows = {name: torch.cat(parts).float().numpy() for name, parts in out.items()}
    # the mean as the embedding probe and the bootstraps take it (L2-normalised)
    rows[FEATURES[1]] = embed_texts(backbone_of(model), tokenizer, texts, max_length=max_length, progress=False)
    return {name: rows[name] for name in FEATURES}


def probes(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(max_iter=2000).fit(x[train], y[train])
    means = np.stack([x[train][y[train] == c].mean(0) for c in np.unique(y)])
    nearest = ((x[test][:, None] - means[None]) ** 2).sum(-1).argmin(1)
    return {"logistic_regression": float((lr.predict(x[test]) == y[test]).mean()),
            "nearest_class_mean": float((nearest == y[test]).mean())}


def main() -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from _machine import quiet_and_describe
    from label_efficiency import SPLIT_SEED
    from lmtune.data.builtin import load_builtin
    from lmtune.data.split import stratified_split
    from lmtune.models import resolve_backbone

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["rotten_tomatoes", "spam_assassin", "bbc_news"])
    parser.add_argument("--model", default="default")
    parser.add_argument("--labels", type=int, default=4, help="labels per class in each sample")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--dev-size", type=int, default=1000)
    parser.add_argument("--split-seed", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "pooling.jsonl")
    args = parser.parse_args()
    print(quiet_and_describe(f"model: {args.model}  {args.labels}/class  dev: {args.dev_size}  max_length "
                             f"{args.max_length}"))
    source = resolve_backbone(args.model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    print(f"{'dataset':16s} {'features':36s} {'logistic regression':>20s} {'nearest class mean':>20s}")
    for dataset in args.datasets:
        rest, _ = stratified_split(load_builtin(dataset).examples, 1000, SPLIT_SEED, "test")
        random.Random(args.split_seed).shuffle(rest)
        labels = sorted({e.label for e in rest})
        model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(labels)).eval()
        texts = [e.text for e in rest]
        y = np.array([labels.index(e.label) for e in rest])
        test = np.arange(args.dev_size)
        candidates = np.arange(args.dev_size, len(rest))
        samples = {seed: np.concatenate([np.random.default_rng(seed).choice(candidates[y[candidates] == c], args.labels,
                                                                            replace=False)
                                         for c in range(len(labels))]) for seed in args.seeds}
        needed = np.unique(np.concatenate([test, *samples.values()]))
        at = {int(i): n for n, i in enumerate(needed)}
        x = features(model, tokenizer, [texts[i] for i in needed], args.max_length)
        for name, rows in x.items():
            scores = []
            for seed, train in samples.items():
                row = {"dataset": dataset, "model": args.model, "labels_per_class": args.labels, "features": name,
                       "seed": seed, "dev_size": args.dev_size,
                       **probes(rows, y[needed], np.array([at[int(i)] for i in train]), np.array([at[int(i)] for i in test]))}
                scores.append(row)
                with args.results.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            cells = [f"{100 * statistics.mean(r[k] for r in scores):.1f} ± {100 * statistics.pstdev(r[k] for r in scores):.1f}"
                     for k in ("logistic_regression", "nearest_class_mean")]
            print(f"{dataset:16s} {name:36s} {cells[0]:>20s} {cells[1]:>20s}", flush=True)


if __name__ == "__main__":
    main()
