"""`lmtune data inspect`: what a labeled file holds and what is wrong with it.

Rows, class balance, token lengths (with the backbone's tokenizer), exact duplicates (same text
after normalisation; the same text with two labels is a conflict), near duplicates (MinHash,
see minhash.py), leakage between train/dev/test files (exact and near), and odd rows.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..data.examples import TextExample
from ..data.minhash import near_duplicate_pairs, normalise
from ..data.readers import read_examples

NEAR_THRESHOLD = 0.8  # Jaccard of word 3-shingles
SHOWN = 20            # examples of each problem listed in the report


def exact_duplicate_groups(examples: list[TextExample]) -> list[list[int]]:
    """Indices of rows whose normalised texts are equal, one group per text (first row first)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[normalise(ex.text)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def near_duplicates(examples: list[TextExample], threshold: float = NEAR_THRESHOLD) -> list[tuple[int, int, float]]:
    """Near but not exact duplicate pairs."""
    return [(i, j, s) for i, j, s in near_duplicate_pairs([ex.text for ex in examples], threshold)
            if normalise(examples[i].text) != normalise(examples[j].text)]


def leakage(splits: dict[str, list[TextExample]], threshold: float = NEAR_THRESHOLD) -> list[dict]:
    """Rows of one split whose text (exactly or nearly) appears in another."""
    names = list(splits)
    everything = [(name, ex) for name in names for ex in splits[name]]
    found = []
    for i, j, score in near_duplicate_pairs([ex.text for _, ex in everything], threshold):
        (a, ex_a), (b, ex_b) = everything[i], everything[j]
        if a != b:
            found.append({"splits": [a, b], "sources": [ex_a.source, ex_b.source], "jaccard": score,
                          "exact": normalise(ex_a.text) == normalise(ex_b.text), "text": ex_a.text[:200]})
    return found


def odd_rows(examples: list[TextExample], lengths: np.ndarray) -> list[dict]:
    """Rows a model can hardly learn from: very short, no letters, or mostly markup/non-text."""
    odd = []
    for ex, n in zip(examples, lengths):
        text = ex.text.strip()
        letters = sum(c.isalpha() for c in text)
        reason = ("no letters" if letters == 0 else "fewer than 3 tokens" if n < 3 else
                  "mostly non-letters (markup, numbers, encoding debris?)" if letters < 0.5 * len(text) else
                  "contains HTML tags" if "</" in text or "<br" in text.lower() else None)
        if reason:
            odd.append({"source": ex.source, "reason": reason, "text": text[:200]})
    return odd


def inspect_data(path: str | Path, *, others: dict[str, str | Path] | None = None, text_column: str = "text",
                 label_column: str = "label", tokenizer=None, max_length: int = 256) -> dict:
    """The report of `lmtune data inspect` as a dict (JSON-ready). `others`: dev/test files to check
    for leakage against this one."""
    result = read_examples(path, text_column=text_column, label_column=label_column, require_label=False,
                           on_bad_rows="skip")
    examples = result.examples
    lengths = token_lengths([ex.text for ex in examples], tokenizer)
    labels = Counter(ex.label for ex in examples if ex.label is not None)
    groups = exact_duplicate_groups(examples)
    conflicts = [g for g in groups if len({examples[i].label for i in g}) > 1]
    near = near_duplicates(examples)
    splits = {"this file": examples}
    for name, other in (others or {}).items():
        splits[name] = read_examples(other, text_column=text_column, label_column=label_column, require_label=False,
                                     on_bad_rows="skip").examples
    report = {
        "file": str(path), "rows": len(examples), "rejected_rows": [r.__dict__ for r in result.rejects],
        "unlabeled_rows": sum(ex.label is None for ex in examples),
        "classes": dict(labels.most_common()),
        "imbalance": round(max(labels.values()) / min(labels.values()), 2) if labels else None,
        "tokens": {"tokenizer": getattr(tokenizer, "name_or_path", None) or "whitespace words",
                   **{f"p{q}": int(np.percentile(lengths, q)) for q in (5, 50, 95, 99)},
                   "max": int(lengths.max()), "over_max_length": int((lengths > max_length).sum()),
                   "max_length": max_length},
        "exact_duplicates": {"groups": len(groups), "extra_rows": sum(len(g) - 1 for g in groups),
                             "label_conflicts": len(conflicts),
                             "examples": [[examples[i].source for i in g] for g in groups[:SHOWN]],
                             "conflict_examples": [{examples[i].source: examples[i].label for i in g}
                                                   for g in conflicts[:SHOWN]]},
        "near_duplicates": {"method": f"MinHash over word 3-shingles, Jaccard >= {NEAR_THRESHOLD}", "pairs": len(near),
                            "examples": [{"sources": [examples[i].source, examples[j].source], "jaccard": s}
                                         for i, j, s in near[:SHOWN]]},
        "odd_rows": odd_rows(examples, lengths),
    }
    if others:
        leaks = leakage(splits)
        report["leakage"] = {"pairs": len(leaks), "exact": sum(leak["exact"] for leak in leaks),
                             "examples": leaks[:SHOWN]}
    report["_lengths"] = lengths
    return report


def token_lengths(texts: list[str], tokenizer=None) -> np.ndarray:
    if tokenizer is None:
        return np.array([len(t.split()) for t in texts])
    return np.array([len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]])


def save_plots(report: dict, out_dir: Path) -> list[Path]:
    """class_balance.png and lengths.png beside the JSON report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if report["classes"]:
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(report["classes"]) + 1.5))
        names = list(report["classes"])[::-1]
        ax.barh(names, [report["classes"][n] for n in names])
        ax.set_xlabel("rows")
        ax.set_title("class balance")
        fig.tight_layout()
        fig.savefig(out_dir / "class_balance.png", dpi=100)
        plt.close(fig)
        written.append(out_dir / "class_balance.png")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(report["_lengths"], bins=40)
    ax.axvline(report["tokens"]["max_length"], color="red", linestyle="--", label=f"max_length {report['tokens']['max_length']}")
    ax.set_xlabel(f"tokens ({report['tokens']['tokenizer']})")
    ax.set_ylabel("rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "lengths.png", dpi=100)
    plt.close(fig)
    return written + [out_dir / "lengths.png"]
