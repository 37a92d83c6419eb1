"""What the studio learns from a finished training: the model's guesses on the pool and the
order to label it in (active learning), and the report: a cross-validated estimate from the
labels, the most suspicious labels, the learning curve and the label-budget advice.

The estimate and the suspicion come from out-of-fold predictions of a probe on the backbone's
frozen embeddings (as `lmtune data label-issues` and `data budget` make them): the fine-tuned
model has seen every label, so scoring it on them would say nothing, and a few labels are too
precious to hold out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .store import Store

QUEUE = 100  # pool texts ranked by the acquisition function after each training; the rest follow by confidence
MAX_FOLDS = 5
ISSUES_SHOWN = 20


def score_pool(store: Store, run_dir: Path, settings: dict, log) -> int:
    """The run's guess and confidence for every unlabeled text, and the queue order from the
    acquisition function (the first QUEUE; the rest least confident first)."""
    from ..curation.active_learning import acquire
    from ..loading import load_run

    pool = store.unlabeled()
    if not pool:
        return 0
    run = load_run(run_dir)
    log(f"scoring the pool ({len(pool)} texts) and choosing what to label next ({settings['strategy']})")
    labeled = [t.text for t in store.labeled()]
    picked, probs = acquire(run, [t.text for t in pool], min(QUEUE, len(pool)), settings["strategy"],
                            labeled=labeled, seed=settings["seed"], progress=False)
    confidence = probs.max(1)
    rank = QUEUE + confidence  # after the picked ones, least confident first
    rank[picked] = np.arange(len(picked))
    store.set_predictions([(t.id, run.labels[int(p)], round(float(c), 4), float(r))
                           for t, p, c, r in zip(pool, probs.argmax(1), confidence, rank)])
    return len(pool)


def report(store: Store, run_dir: Path, folder: Path, settings: dict, log) -> dict:
    """report.json's content (the caller writes it): what the run chose and what the labels say."""
    from ..artifacts import RUN_FILE, read_json
    from ..curation.budget import budget_report
    from ..curation.label_issues import suspicion
    from ..evaluation.predict import embed_texts
    from ..evaluation.report import classification_metrics
    from ..loading import load_encoder

    info = read_json(run_dir / RUN_FILE)
    labels = store.class_names()
    labeled = [t for t in store.labeled() if t.label in labels]
    y = np.array([labels.index(t.label) for t in labeled])
    counts = np.bincount(y, minlength=len(labels))
    out = {"run_dir": str(run_dir), "labels": len(labeled), "per_class": dict(zip(labels, map(int, counts))),
           "method": info.get("method"), "why": (info.get("auto") or {}).get("why")}
    folds = min(MAX_FOLDS, int(counts.min()))
    if folds < 2:
        out["estimate"] = None
        out["not_estimated"] = "label at least 2 texts of every class for a cross-validated estimate"
        return out
    log("cross-validating the labels (a probe on the backbone's embeddings)")
    encoder, tokenizer, max_length = load_encoder(settings["model"], settings.get("max_length", 256))
    features = embed_texts(encoder, tokenizer, [t.text for t in labeled], max_length=max_length, progress=False)
    probs, quality, flagged = suspicion(features, y, folds, settings["seed"])
    metrics = classification_metrics(y.tolist(), probs.argmax(1).tolist(), labels)
    out["estimate"] = {**metrics, "folds": folds}  # the page draws its confusion matrix as a table
    order = np.argsort(quality, kind="stable")[:ISSUES_SHOWN]
    out["issues"] = [{"text_id": labeled[i].id, "given": labels[y[i]], "suggested": labels[int(probs[i].argmax())],
                      "probability": round(float(probs[i].max()), 4), "quality": round(float(quality[i]), 4),
                      "flagged": bool(flagged[i])} for i in order]
    log("measuring the learning curve")
    out["budget"] = budget_report(features, y, labels, folder, seeds=settings.get("curve_seeds", 20),
                                  seed=settings["seed"], command=False)
    return out
