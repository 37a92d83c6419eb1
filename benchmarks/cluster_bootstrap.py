"""How well self-training's bootstrap labels the unlabeled pool before any training:
`clusters` (the default here) = seeded k-means (methods/self_training/clusters.py) over the
backbone's embeddings (`--model`, default the packaged MiniLM) and over the words' TF-IDF,
combined where they agree; `--bootstrap descriptions` = the nearest label description
(label_efficiency.DESCRIPTIONS), refined by a linear classifier over the same views
(methods/self_training/descriptions.py). With exactly the labeled sample and pool that
benchmarks/label_efficiency.py trains on (same split, seeds, cap).

Per dataset, views, labels per class and seed it prints: each view's `agreement` (labeled
examples nearest their own class's centroid; or nearest their own description), the views
self-training uses (see bootstrap_problem), the share of the pool the views' clusters agree on, the accuracy of the
bootstrap label over the whole pool, how many pool texts the first part of training gets (the
share bootstrap_share gives, balanced, >= the threshold, with the self-training preset's options)
and their accuracy, and the bootstrap's accuracy on the held-out test docs (`Bootstrap.predict`).
No training: minutes on 2 cores, mostly the embedding pass (each distinct text embedded once).

    python benchmarks/cluster_bootstrap.py
    python benchmarks/cluster_bootstrap.py --datasets bbc_news --labels 1 4 --seeds 42 --views embedding
    python benchmarks/cluster_bootstrap.py --bootstrap descriptions --labels 1 4 16
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def bootstrap_rows(dataset: str, labels: list[int], seeds: list[int], args) -> list[dict]:
    from label_efficiency import DESCRIPTIONS, data_config
    from lmtune.data import prepare_data
    from lmtune.evaluation.predict import embed_texts
    from lmtune.loading import load_encoder
    from lmtune.methods.self_training import SelfTraining, bootstrap_share, pseudo_label_rows
    from lmtune.methods.self_training.clusters import bootstrap_labels, lexical_features
    from lmtune.methods.self_training.descriptions import description_labels
    from lmtune.quickstart import quickstart_config

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        # the preset's rounds and threshold
        options = SelfTraining.Config.model_validate(quickstart_config(1, tmp, method="self-training").method.options())
        # the pool's true labels (sampling hides them from the unlabeled texts): the same split, all labeled
        full_cfg = quickstart_config(1, tmp, data_config(dataset, None, args.test_size, None))
        full = prepare_data(full_cfg.data, 0, "classification")
        label_of = {e.text: e.label for e in full.train + full.test}
        for k in labels:
            for seed in seeds:
                cfg = quickstart_config(k, tmp, data_config(dataset, k, args.test_size, args.max_unlabeled))
                runs[k, seed] = prepare_data(cfg.data, seed, "classification")
    names = next(iter(runs.values())).labels
    texts = sorted({e.text for d in runs.values() for e in d.train + d.unlabeled + d.test})
    encoder, tokenizer, max_length = load_encoder(args.model, args.max_length)
    started = time.perf_counter()
    vectors = embed_texts(encoder, tokenizer, texts, max_length=max_length, desc=f"embed {dataset}")
    print(f"# {dataset}: {len(texts)} distinct texts embedded in {time.perf_counter() - started:.0f} s", flush=True)
    row_of = {t: i for i, t in enumerate(texts)}
    if args.bootstrap == "descriptions":
        described = embed_texts(encoder, tokenizer, [DESCRIPTIONS[dataset][n] for n in names], max_length=max_length,
                                progress=False)

    out = []
    for (k, seed), data in runs.items():
        parts = data.train, data.unlabeled, data.test
        truth = [np.array([names.index(label_of[e.text]) for e in part]) for part in parts]
        rows = [[row_of[e.text] for e in part] for part in parts]
        views = {}  # name -> (labeled, pool, test) rows
        for name in args.views:
            if name == "embedding":
                views[name] = tuple(vectors[r] for r in rows)
            else:  # fitted on the labeled texts and the pool, as self-training does; the test docs only transformed
                words = lexical_features([e.text for part in parts for e in part], fit_on=len(parts[0]) + len(parts[1]))
                cut = np.cumsum([len(p) for p in parts])[:-1]
                views[name] = None if words is None else tuple(np.split(words, cut))
        given = {n: None if v is None else v[:2] for n, v in views.items()}
        found = (description_labels(given, described, truth[0], len(names)) if args.bootstrap == "descriptions" else
                 bootstrap_labels(given, truth[0], len(names)))
        row = {"dataset": dataset, "k": k, "seed": seed, "used": "+".join(found.inputs) or "-", "pool": len(truth[1]),
               "agreement": {n: f.agreement for n, f in found.found.items()}, "agree": found.agree}
        if found.probs is not None:
            predicted, confidence = found.probs.argmax(1), found.probs.max(1)
            prior = (np.bincount(truth[0], minlength=len(names)) / len(truth[0])).tolist()
            kept = pseudo_label_rows(options, predicted, confidence, prior, bootstrap_share(options.rounds), len(names))
            test = found.predict({n: views[n][2] for n in found.inputs}).argmax(1)
            row.update({"pool_accuracy": float((predicted == truth[1]).mean()), "kept": len(kept),
                        "kept_accuracy": float((predicted[kept] == truth[1][kept]).mean()) if len(kept) else float("nan"),
                        "test_accuracy": float((test == truth[2]).mean())})
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes"])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 2, 4, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--max-unlabeled", type=int, default=3000)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--model", default="default",
                        help="backbone whose embeddings the bootstrap uses: default, mpnet, a directory")
    parser.add_argument("--views", nargs="+", choices=["embedding", "lexical"], default=["embedding", "lexical"])
    parser.add_argument("--bootstrap", choices=["clusters", "descriptions"], default="clusters")
    args = parser.parse_args()
    if args.bootstrap == "descriptions" and "embedding" not in args.views:
        parser.error("--bootstrap descriptions compares the texts with the descriptions in the embedding view")

    from _machine import quiet_and_describe

    print(quiet_and_describe(f"model: {args.model}  test: {args.test_size}  max unlabeled: {args.max_unlabeled}  "
                             f"max length: {args.max_length}  views: {' + '.join(args.views)}  bootstrap: {args.bootstrap}"),
          flush=True)
    rows = [r for d in args.datasets for r in bootstrap_rows(d, args.labels, args.seeds, args)]
    nan = float("nan")
    print(f"\n{'dataset':<16} {'k':>3} {'seed':>4} {'agreement':>{10 * len(args.views)}} {'used':>18} {'agree %':>7} "
          f"{'pool':>5} {'pool acc %':>10} {'kept':>5} {'kept acc %':>10} {'test acc %':>10}")
    for r in rows:
        agreement = " ".join(f"{n[:4]} {a:.2f}" for n, a in r["agreement"].items())
        print(f"{r['dataset']:<16} {r['k']:>3} {r['seed']:>4} {agreement:>{10 * len(args.views)}} {r['used']:>18} "
              f"{100 * (r['agree'] or nan):>7.1f} {r['pool']:>5} {100 * r.get('pool_accuracy', nan):>10.1f} "
              f"{r.get('kept', 0):>5} {100 * r.get('kept_accuracy', nan):>10.1f} {100 * r.get('test_accuracy', nan):>10.1f}")
    print(f"\n{'dataset':<16} {'k':>3} {'used':>9} {'pool acc %':>10} {'kept acc %':>10} {'test acc %':>10}  "
          f"(mean over the seeds that use the bootstrap)")
    for key in dict.fromkeys((r["dataset"], r["k"]) for r in rows):
        cell = [r for r in rows if (r["dataset"], r["k"]) == key]
        used = [r for r in cell if "pool_accuracy" in r]
        mean = {m: 100 * statistics.mean(r[m] for r in used) if used else nan
                for m in ("pool_accuracy", "kept_accuracy", "test_accuracy")}
        print(f"{key[0]:<16} {key[1]:>3} {len(used):>5} of {len(cell)} {mean['pool_accuracy']:>10.1f} "
              f"{mean['kept_accuracy']:>10.1f} {mean['test_accuracy']:>10.1f}")

if __name__ == "__main__":
    main()
