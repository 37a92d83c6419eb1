"""`lmtune data budget`: how many labels to add, from a learning curve of the labels already given.

Each labeled text is embedded once (the backbone's or a run's encoder, mean-pooled). For each of
several seeds every class's rows are shuffled once; a logistic regression trained on the first
k rows of each class (nested: the k-sample grows by adding rows) is scored on the rows no budget
of that seed uses. That gives accuracy at 1, 2, 4, ... labels per class, as many as the rarest
class allows. The error is then fitted by a power law, error(k) = b x k^-c (a straight line in
log-log; learning curves follow one over this range), and extrapolated to larger budgets. The
range comes from fitting each seed's curve alone.

What it predicts is the accuracy of the labels alone, used well: a frozen-embedding probe.
Fine-tuning with lmtune's semi-supervised methods is usually above it (BENCHMARKS.md, "Label
budget advisor", measures both).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.readers import read_examples
from ..errors import DataError

HELD_OUT_PER_CLASS = 1  # rows of each class that no budget trains on: the score of every budget
MIN_ERROR = 1e-3  # a perfect score would be log(0): errors are floored here before the fit


@dataclass
class Curve:
    budgets: list[int]  # labels per class measured
    accuracy: np.ndarray  # [seeds, budgets]
    targets: list[int]
    predicted: dict[int, float]  # labels per class -> predicted accuracy (all seeds' mean curve)
    low: dict[int, float]  # ... the lowest of the seeds' own fits
    high: dict[int, float]

    def summary(self) -> dict:
        return {"measured": {str(k): {"mean": round(float(self.accuracy[:, i].mean()), 4),
                                      "std": round(float(self.accuracy[:, i].std()), 4)}
                             for i, k in enumerate(self.budgets)},
                "predicted": {str(k): {"accuracy": round(self.predicted[k], 4), "low": round(self.low[k], 4),
                                       "high": round(self.high[k], 4)} for k in self.targets}}


def budgets_for(smallest_class: int, held_out: int = HELD_OUT_PER_CLASS) -> list[int]:
    """1, 2, 4, ... up to what the rarest class leaves after its held-out rows (and that count itself)."""
    top = smallest_class - held_out
    found = [k for k in (2 ** i for i in range(12)) if k <= top]
    return found + ([top] if found and top not in found else [])


def measure_curve(features: np.ndarray, y: np.ndarray, budgets: list[int], seeds: int, seed: int = 0) -> np.ndarray:
    """Probe accuracy [seeds, budgets] on each seed's held-out rows."""
    from sklearn.linear_model import LogisticRegression

    classes = np.unique(y)
    out = np.zeros((seeds, len(budgets)))
    for s in range(seeds):
        rng = np.random.default_rng(seed + s)
        order = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
        held = np.concatenate([order[c][max(budgets):] for c in classes])
        for i, k in enumerate(budgets):
            train = np.concatenate([order[c][:k] for c in classes])
            model = LogisticRegression(max_iter=2000).fit(features[train], y[train])
            out[s, i] = float((model.predict(features[held]) == y[held]).mean())
    return out


def power_law(budgets: list[int], accuracy: np.ndarray) -> tuple[float, float]:
    """(log b, c) of error = b x k^-c fitted by least squares in log-log; c >= 0 (more labels never hurt)."""
    x = np.log(np.asarray(budgets, dtype=float))
    e = np.log(np.clip(1 - np.asarray(accuracy, dtype=float), MIN_ERROR, 1))
    if len(x) < 2:
        return float(e[0]), 0.0
    slope, intercept = np.polyfit(x, e, 1)
    return float(intercept), float(max(0.0, -slope))


def predict(fit: tuple[float, float], k: int) -> float:
    log_b, c = fit
    return float(1 - min(1.0, math.exp(log_b) * k ** -c))


def fit_curve(budgets: list[int], accuracy: np.ndarray, targets: list[int]) -> Curve:
    mean_fit = power_law(budgets, accuracy.mean(0))
    seed_fits = [power_law(budgets, row) for row in accuracy]
    predicted = {k: predict(mean_fit, k) for k in targets}
    per_seed = {k: [predict(f, k) for f in seed_fits] for k in targets}
    return Curve(budgets, accuracy, targets, predicted, {k: min(v) for k, v in per_seed.items()},
                 {k: max(v) for k, v in per_seed.items()})


def label_budget(path: str | Path, out: str | Path, *, model: str = "default", targets: tuple[int, ...] = (8, 16, 32),
                 seeds: int = 20, seed: int = 42, text_column: str = "text", label_column: str = "label",
                 max_length: int = 256, progress: bool = True) -> dict:
    """Measure the curve on the labeled file at `path`, write budget.json and budget.png in `out`."""
    from ..artifacts import write_json
    from ..evaluation.predict import embed_texts
    from ..loading import load_encoder

    examples = [ex for ex in read_examples(path, text_column=text_column, label_column=label_column).examples
                if ex.label is not None]
    labels = sorted({ex.label for ex in examples})
    if len(labels) < 2:
        raise DataError(f"{len(labels)} label(s) in the file: a learning curve needs two or more classes", where=str(path),
                        fix="give the labeled file (text and label columns).")
    y = np.array([labels.index(ex.label) for ex in examples])
    counts = np.bincount(y)
    budgets = budgets_for(int(counts.min()))
    if not budgets:
        rarest = labels[int(counts.argmin())]
        raise DataError(f"class {rarest!r} has {counts.min()} labeled row(s): a learning curve needs at least "
                        f"{HELD_OUT_PER_CLASS + 1} per class (one to train on, one held out)", where=str(path),
                        fix=f"label at least {HELD_OUT_PER_CLASS + 1} rows of every class.")
    encoder, tokenizer, run_max_length = load_encoder(model, max_length)
    features = embed_texts(encoder, tokenizer, [ex.text for ex in examples], max_length=run_max_length,
                           progress=progress, desc="embed for the label budget")
    curve = fit_curve(budgets, measure_curve(features, y, budgets, seeds, seed), sorted(set(targets)))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"input": str(path), "encoder": model, "rows": len(examples), "labels": labels,
              "per_class": dict(zip(labels, map(int, counts))), "seeds": seeds,
              "what": "accuracy of a logistic-regression probe on the frozen encoder's embeddings (the labels alone); "
                      "lmtune's semi-supervised runs are usually above it",
              **curve.summary(), "advice": advice(curve, len(labels), int(counts.min()))}
    report["plot"] = str(save_plot(curve, out / "budget.png"))
    write_json(out / "budget.json", report)
    return report


def advice(curve: Curve, n_classes: int, have: int) -> list[str]:
    lines = []
    for k in curve.targets:
        if k <= have:
            continue
        lines.append(f"at {k} per class expect ~{curve.predicted[k]:.1%} (seeds' fits: {curve.low[k]:.1%} to "
                     f"{curve.high[k]:.1%}): label about {(k - have) * n_classes} more texts, e.g. "
                     f"`lmtune data select POOL --model RUN --budget {(k - have) * n_classes}`")
    return lines


def save_plot(curve: Curve, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    mean, std = curve.accuracy.mean(0), curve.accuracy.std(0)
    ax.errorbar(curve.budgets, 100 * mean, yerr=100 * std, fmt="o", capsize=3, label="measured (held-out rows)")
    grid = np.unique(np.geomspace(1, max(curve.targets + curve.budgets), 50).round().astype(int))
    fit = power_law(curve.budgets, mean)
    ax.plot(grid, [100 * predict(fit, k) for k in grid], "-", label="power-law fit")
    ax.fill_between(curve.targets, [100 * curve.low[k] for k in curve.targets],
                    [100 * curve.high[k] for k in curve.targets], alpha=0.2, label="range of the seeds' fits")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("labels per class")
    ax.set_ylabel("probe accuracy %")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
