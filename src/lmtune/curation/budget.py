"""`lmtune data budget`: how many labels to add, from a learning curve of the labels already given.

Each labeled text is embedded once (the backbone's or a run's encoder, mean-pooled); the curve
(evaluation/learning_curve.py) is measured at 1, 2, 4, ... labels per class, as many as the
rarest class allows, and extrapolated to the targets.

What it predicts is the accuracy of the labels alone, used well: a frozen-embedding probe.
Fine-tuning with lmtune's semi-supervised methods is usually above it (BENCHMARKS.md, "Label
budget advisor", measures both).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.readers import read_examples
from ..errors import DataError
from ..evaluation.learning_curve import (
    HELD_OUT_PER_CLASS,
    Curve,
    budgets_for,
    fit_curve,
    measure_curve,
    power_law,
    predict,
)


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
    report = {"input": str(path), "encoder": model, "rows": len(examples),
              **budget_report(features, y, labels, out, targets=targets, seeds=seeds, seed=seed)}
    write_json(Path(out) / "budget.json", report)
    return report


def budget_report(features: np.ndarray, y: np.ndarray, labels: list[str], out: str | Path, *,
                  targets: tuple[int, ...] = (8, 16, 32), seeds: int = 20, seed: int = 42, command: bool = True) -> dict:
    """The curve of embedded, labeled rows (every class with more than HELD_OUT_PER_CLASS rows),
    its advice and its plot (`out`/budget.png)."""
    counts = np.bincount(y, minlength=len(labels))
    budgets = budgets_for(int(counts.min()))
    curve = fit_curve(budgets, measure_curve(features, y, budgets, seeds, seed), sorted(set(targets)), 1 / len(labels))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return {"labels": labels, "per_class": dict(zip(labels, map(int, counts))), "seeds": seeds,
            "what": "accuracy of a logistic-regression probe on the frozen encoder's embeddings (the labels alone); "
                    "lmtune's semi-supervised runs are usually above it",
            **curve.summary(), "advice": advice(curve, len(labels), int(counts.min()), command),
            "plot": str(save_plot(curve, out / "budget.png"))}


def advice(curve: Curve, n_classes: int, have: int, command: bool = True) -> list[str]:
    """A line per target above the labels there are; `command`: with the CLI call that picks them."""
    lines = []
    for k in curve.targets:
        if k <= have:
            continue
        more = (k - have) * n_classes
        lines.append(f"at {k} per class expect ~{curve.predicted[k]:.1%} (seeds' fits: {curve.low[k]:.1%} to "
                     f"{curve.high[k]:.1%}): label about {more} more texts" +
                     (f", e.g. `lmtune data select POOL --model RUN --budget {more}`" if command else ""))
    return lines


def save_plot(curve: Curve, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    mean, std = curve.accuracy.mean(0), curve.accuracy.std(0)
    ax.errorbar(curve.budgets, 100 * mean, yerr=100 * std, fmt="o", capsize=3, label="measured (held-out rows)")
    grid = np.unique(np.geomspace(1, max(curve.targets + curve.budgets), 50).round().astype(int))
    fit = power_law(curve.budgets, mean, curve.chance)
    ax.plot(grid, [100 * predict(fit, k, curve.chance) for k in grid], "-", label="power-law fit")
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
