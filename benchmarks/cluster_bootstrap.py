"""How well self-training's `bootstrap: clusters` labels the unlabeled pool before any training:
seeded k-means (methods/clusters.py) over the packaged MiniLM's embeddings, with exactly the
labeled sample and pool that benchmarks/label_efficiency.py trains on (same split, seeds, cap).

Per dataset, labels per class and seed it prints: `agreement` (labeled examples nearest their own
class's centroid; `used`: whether self-training takes the clusters, see bootstrap_problem), the accuracy of the
cluster label over the whole pool, how many pool texts the first part of training gets (the
surest 1/rounds of the pool, balanced, >= the threshold: the self-training preset's selection)
and their accuracy, and the nearest-centroid accuracy on the held-out test docs. No training:
minutes on 2 cores, mostly the embedding pass (each distinct text embedded once).

    python benchmarks/cluster_bootstrap.py
    python benchmarks/cluster_bootstrap.py --datasets bbc_news --labels 1 4 --seeds 42
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
    from label_efficiency import data_config

    from lmtune.data import prepare_data
    from lmtune.evaluation.predict import embed_texts
    from lmtune.methods.clusters import seeded_kmeans
    from lmtune.methods.self_training import SelfTraining, bootstrap_problem, pseudo_label_rows
    from lmtune.models import load_encoder
    from lmtune.quickstart import quickstart_config

    options = SelfTraining.Config()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        # the pool's true labels (sampling hides them from the unlabeled texts): the same split, all labeled
        full = prepare_data(quickstart_config(1, tmp, data_config(dataset, None, args.test_size, None)).data, 0)
        label_of = {e.text: e.label for e in full.train + full.test}
        for k in labels:
            for seed in seeds:
                cfg = quickstart_config(k, tmp, data_config(dataset, k, args.test_size, args.max_unlabeled))
                runs[k, seed] = prepare_data(cfg.data, seed)
    names = next(iter(runs.values())).labels
    texts = sorted({e.text for d in runs.values() for e in d.train + d.unlabeled + d.test})
    encoder, tokenizer, max_length = load_encoder("default", args.max_length)
    started = time.perf_counter()
    vectors = embed_texts(encoder, tokenizer, texts, max_length=max_length, desc=f"embed {dataset}")
    print(f"# {dataset}: {len(texts)} distinct texts embedded in {time.perf_counter() - started:.0f} s", flush=True)
    row_of = {t: i for i, t in enumerate(texts)}

    def embedded(examples):
        return vectors[[row_of[e.text] for e in examples]], np.array([names.index(label_of[e.text]) for e in examples])

    out = []
    for (k, seed), data in runs.items():
        (labeled, classes), (pool, truth), (test, test_truth) = map(embedded, (data.train, data.unlabeled, data.test))
        found = seeded_kmeans(pool, labeled, classes, len(names))
        predicted, confidence = found.probs.argmax(1), found.probs.max(1)
        prior = (np.bincount(classes, minlength=len(names)) / len(classes)).tolist()
        kept = pseudo_label_rows(options, predicted, confidence, prior, 1 / options.rounds, len(names))
        out.append({"dataset": dataset, "k": k, "seed": seed, "agreement": found.agreement,
                    "used": bootstrap_problem(found) is None, "pool": len(pool),
                    "pool_accuracy": float((predicted == truth).mean()), "kept": len(kept),
                    "kept_accuracy": float((predicted[kept] == truth[kept]).mean()) if len(kept) else float("nan"),
                    "test_accuracy": float(((test @ found.centroids.T).argmax(1) == test_truth).mean())})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbc_news", "rotten_tomatoes"])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 2, 4, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--max-unlabeled", type=int, default=3000)
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()

    from _machine import quiet_and_describe

    print(quiet_and_describe(f"test: {args.test_size}  max unlabeled: {args.max_unlabeled}  "
                             f"max length: {args.max_length}"), flush=True)
    rows = [r for d in args.datasets for r in bootstrap_rows(d, args.labels, args.seeds, args)]
    print(f"\n{'dataset':<16} {'k':>3} {'seed':>4} {'agreement':>9} {'used':>5} {'pool':>5} {'pool acc %':>10} "
          f"{'kept':>5} {'kept acc %':>10} {'test acc %':>10}")
    for r in rows:
        print(f"{r['dataset']:<16} {r['k']:>3} {r['seed']:>4} {r['agreement']:>9.2f} {str(r['used']):>5} {r['pool']:>5} "
              f"{100 * r['pool_accuracy']:>10.1f} {r['kept']:>5} {100 * r['kept_accuracy']:>10.1f} "
              f"{100 * r['test_accuracy']:>10.1f}")
    print(f"\n{'dataset':<16} {'k':>3} {'used':>9} {'pool acc %':>10} {'kept acc %':>10} {'test acc %':>10}  (mean over seeds)")
    for key in dict.fromkeys((r["dataset"], r["k"]) for r in rows):
        cell = [r for r in rows if (r["dataset"], r["k"]) == key]
        mean = {m: 100 * statistics.mean(r[m] for r in cell) for m in ("pool_accuracy", "kept_accuracy", "test_accuracy")}
        print(f"{key[0]:<16} {key[1]:>3} {sum(r['used'] for r in cell):>5} of {len(cell)} {mean['pool_accuracy']:>10.1f} "
              f"{mean['kept_accuracy']:>10.1f} {mean['test_accuracy']:>10.1f}")


if __name__ == "__main__":
    main()
