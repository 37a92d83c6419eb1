"""How far a classifier's confidence is from its accuracy, and the temperature that closes it.

Temperature scaling (Guo et al. 2017): one number T divides the logits; it changes no label
(argmax is kept) and is fitted by minimising the negative log-likelihood on held-out labels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ECE_BINS = 15  # equal-width confidence bins, as in Guo et al.
TEMPERATURE_RANGE = (0.05, 20.0)  # beyond these a fit on a few dozen texts is noise
# the guard that keeps a temperature: cross-fitted over GUARD_FOLDS folds of the dev set, its NLL
# gain above GUARD_Z standard errors (chosen in benchmarks/calibration_guard.py)
GUARD_FOLDS = 5
GUARD_Z = 1.0


def _rows(probs: np.ndarray, classes) -> np.ndarray:
    return np.asarray(probs, dtype=np.float64)[np.arange(len(probs)), np.asarray(classes, dtype=int)]


def negative_log_likelihood(probs: np.ndarray, classes) -> float:
    """Mean -log p(true class)."""
    if not len(probs):
        return float("nan")
    return float(-np.log(np.clip(_rows(probs, classes), 1e-12, None)).mean())


def reliability_bins(probs: np.ndarray, classes, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin (of the top class): its range, texts, mean confidence, accuracy."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence, correct = probs.max(1), probs.argmax(1) == np.asarray(classes, dtype=int)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "texts": n,
                    "confidence": float(confidence[inside].mean()) if n else None,
                    "accuracy": float(correct[inside].mean()) if n else None})
    return out


def expected_calibration_error(probs: np.ndarray, classes, bins: int = ECE_BINS) -> float:
    """Sum over bins of |accuracy - confidence| weighted by the bin's share of the texts."""
    n = len(probs)
    if not n:
        return float("nan")
    return float(sum(b["texts"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(probs, classes, bins) if b["texts"]))


def rescale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities of logits divided by `temperature` (log-probabilities are the logits
    up to a constant per row, which softmax ignores)."""
    scaled = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    scaled -= scaled.max(1, keepdims=True)
    out = np.exp(scaled)
    return out / out.sum(1, keepdims=True)


def fit_temperature(probs: np.ndarray, classes) -> float:
    """The temperature that minimises the negative log-likelihood of `classes` (searched on log T)."""
    from scipy.optimize import minimize_scalar

    low, high = np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1])
    found = minimize_scalar(lambda log_t: negative_log_likelihood(rescale(probs, float(np.exp(log_t))), classes),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(found.x))


def held_out_nll(probs: np.ndarray, classes, folds: int = GUARD_FOLDS) -> tuple[np.ndarray, np.ndarray]:
    """Per text, its NLL as the model is and with a temperature fitted on the other folds: over
    texts no temperature was fitted on, whether fitting one generalises beyond the texts it saw.
    A temperature fitted on a few dozen texts can sharpen a model further than new texts bear
    (a near-chance model most of all)."""
    probs, classes = np.asarray(probs), np.asarray(classes, dtype=int)
    fold = np.arange(len(probs)) % folds
    kept, scaled = np.zeros(len(probs)), np.zeros(len(probs))
    for k in range(folds):
        train, test = fold != k, fold == k
        t = fit_temperature(probs[train], classes[train])
        kept[test] = -np.log(np.clip(_rows(probs[test], classes[test]), 1e-12, None))
        scaled[test] = -np.log(np.clip(_rows(rescale(probs[test], t), classes[test]), 1e-12, None))
    return kept, scaled


def gain_in_standard_errors(kept: np.ndarray, scaled: np.ndarray) -> float:
    """The mean per-text NLL gain (kept - scaled) in standard errors of that mean."""
    gain = np.asarray(kept) - np.asarray(scaled)
    if len(gain) < 2:
        return float("-inf")
    error = gain.std(ddof=1) / np.sqrt(len(gain))
    if error == 0:  # every text gained alike: the sign decides
        return float(np.sign(gain.mean()) * np.inf) if gain.mean() else 0.0
    return float(gain.mean() / error)


def significant_gain(kept: np.ndarray, scaled: np.ndarray, z: float = GUARD_Z) -> bool:
    """Whether the per-text NLL gain (kept - scaled) is above zero by `z` standard errors."""
    return gain_in_standard_errors(kept, scaled) > z


def calibration_summary(probs: np.ndarray, classes) -> dict:
    """ECE and NLL of predicted probabilities, rounded for a record."""
    return {"ece": round(expected_calibration_error(probs, classes), 4),
            "nll": round(negative_log_likelihood(probs, classes), 4)}


def save_reliability_png(probs: np.ndarray, classes, path: Path, title: str,
                         before: np.ndarray | None = None) -> Path:
    """The reliability diagram: accuracy against confidence per bin (and, given `before`, the
    uncalibrated model's curve beside it)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..artifacts import atomic_write

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for shown, name, style in ((before, "before calibration", "--"), (probs, "model", "-")):
        if shown is None:
            continue
        filled = [b for b in reliability_bins(shown, classes) if b["texts"]]
        ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], style, marker="o",
                label=f"{name} (ECE {expected_calibration_error(shown, classes):.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the predicted class")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return atomic_write(path, buffer.getvalue())
