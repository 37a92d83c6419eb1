"""Classification metrics, terminal tables and the confusion-matrix PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def classification_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    # macro averages over the classes the scored rows hold or were given: a class absent from
    # both (a small file) has no F1, and counting it as 0 would understate every other class
    present = sorted({int(i) for i in y_true} | {int(i) for i in y_pred})
    macro = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro", zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(macro[2]),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_classes": [labels[i] for i in present],
        "per_class": {lb: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lb in enumerate(labels)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def metrics_table(metrics: dict, title: str):
    from rich.table import Table

    if "per_class" not in metrics:
        return _sequence_table(metrics, title)
    calibration = f"   ECE {metrics['ece']:.4f}" if "ece" in metrics else ""
    table = Table(title=f"{title}: accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}{calibration}"
                        f"   (n={metrics['n']})")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, row in metrics["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    averaged = metrics.get("macro_classes")
    if averaged is not None and len(averaged) < len(metrics["per_class"]):
        table.caption = (f"macro averages over the {len(averaged)} classes present in the labels or predictions "
                         f"({', '.join(averaged)}); the others have no row here to score")
    return table


def _sequence_table(metrics: dict, title: str):
    """Token classification and generation: the overall numbers, then scores per type (if any)."""
    from rich.table import Table

    overall = "   ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    table = Table(title=f"{title}: {overall}   (n={metrics.get('n')})")
    for column in ("type", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "type" else "right")
    for kind, row in (metrics.get("per_type") or metrics.get("per_label") or {}).items():
        table.add_row(kind, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    return table


def save_confusion_png(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..artifacts import atomic_write

    m = np.asarray(matrix)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())


def score_predictions(probs, examples, labels: list[str]) -> dict:
    """classification_metrics of predicted probabilities against the examples' labels, with their
    calibration (ece, nll)."""
    from .calibration import calibration_summary

    label2id = {lb: i for i, lb in enumerate(labels)}
    classes = [label2id[ex.label] for ex in examples]
    return {**classification_metrics(classes, probs.argmax(-1).tolist(), labels),
            **(calibration_summary(probs, classes) if len(classes) else {})}


def robustness_table(metrics: dict):
    from rich.table import Table

    table = Table(title="robustness (same rows, perturbed copies)")
    for column in ("input", "accuracy", "macro-F1", "accuracy change"):
        table.add_column(column, justify="left" if column == "input" else "right")
    table.add_row("clean", f"{metrics['accuracy']:.4f}", f"{metrics['macro_f1']:.4f}", "")
    for name, scores in metrics["perturbed"].items():
        table.add_row(f"{name} ({scores['rate']:.0%} of words)", f"{scores['accuracy']:.4f}", f"{scores['macro_f1']:.4f}",
                      f"{scores['accuracy_change']:+.4f}")
    return table


def abstain_summary(probs, examples, labels: list[str], min_confidence: float) -> dict:
    """The abstain band on labeled texts: how many fall below `min_confidence`, and the accuracy
    on the answered rest (against the accuracy on all)."""
    label2id = {lb: i for i, lb in enumerate(labels)}
    truth = np.array([label2id[ex.label] for ex in examples])
    answered = probs.max(-1) >= min_confidence
    correct = probs.argmax(-1) == truth
    return {"min_confidence": min_confidence, "abstained": int((~answered).sum()),
            "coverage": round(float(answered.mean()), 4) if len(truth) else None,
            "answered_accuracy": round(float(correct[answered].mean()), 4) if answered.any() else None,
            "abstained_accuracy": round(float(correct[~answered].mean()), 4) if (~answered).any() else None}
