"""`lmtune data label-issues`: rank the rows most likely mislabeled.

Out-of-fold class probabilities from cross-validation (the user need not produce them): each
text is embedded once by the run's or backbone's encoder (mean-pooled), a logistic regression
is trained on K-1 folds and predicts the held-out fold. Confident learning (cleanlab) then
flags rows whose given label is unlikely given those probabilities, and every row gets a
suggested label: the class the out-of-fold model believes most.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.readers import read_examples
from ..data.tables import write_rows
from ..errors import DataError


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    probs = np.zeros((len(labels), labels.max() + 1))
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        model = LogisticRegression(max_iter=2000, C=10.0).fit(features[train], labels[train])
        probs[np.ix_(held, model.classes_)] = model.predict_proba(features[held])
    return probs


def suspicion(features: np.ndarray, y: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold probabilities, each row's label quality (low: suspicious) and cleanlab's flags."""
    from cleanlab.filter import find_label_issues as confident_learning
    from cleanlab.rank import get_label_quality_scores

    probs = out_of_fold_probabilities(features, y, folds, seed)
    quality = get_label_quality_scores(y, probs, method="self_confidence")
    flagged = confident_learning(y, probs, filter_by="prune_by_noise_rate")
    return probs, quality, flagged


def find_label_issues(path: str | Path, out: str | Path, *, model: str = "default", folds: int = 5, seed: int = 42,
                      text_column: str = "text", label_column: str = "label", max_length: int = 256,
                      progress: bool = True) -> dict:
    """Write every row to `out` ranked by suspicion (most likely mislabeled first), its other
    columns kept; returns a summary."""
    from ..evaluation.predict import embed_texts
    from ..loading import load_encoder

    examples = read_examples(path, text_column=text_column, label_column=label_column, keep_row=True).examples
    labels = sorted({ex.label for ex in examples})
    y = np.array([labels.index(ex.label) for ex in examples])
    smallest = int(np.bincount(y).min())
    if smallest < folds:
        raise DataError(f"the rarest class has {smallest} rows, fewer than the {folds} cross-validation folds",
                        where=str(path), fix=f"use --folds {max(2, smallest)} or label more rows of that class.")
    encoder, tokenizer, run_max_length = load_encoder(model, max_length)
    features = embed_texts(encoder, tokenizer, [ex.text for ex in examples], max_length=run_max_length,
                           progress=progress, desc="embed for label issues")
    probs, quality, flagged = suspicion(features, y, folds, seed)
    order = np.argsort(quality, kind="stable")
    rows = []
    for rank, i in enumerate(order, 1):
        ex, best = examples[i], int(probs[i].argmax())
        rows.append({"rank": rank, "source": ex.source, text_column: ex.text, "given_label": ex.label,
                     "suggested_label": labels[best], "suggested_probability": round(float(probs[i, best]), 4),
                     "label_quality": round(float(quality[i]), 4), "flagged": bool(flagged[i]),
                     **{k: v for k, v in ex.row.items() if k not in (text_column, label_column)}})
    write_rows(out, rows)
    return {"input": str(path), "output": str(out), "rows": len(rows), "flagged": int(flagged.sum()),
            "folds": folds, "encoder": model,
            "out_of_fold_accuracy": round(float((probs.argmax(1) == y).mean()), 4),
            "top": rows[:10]}
