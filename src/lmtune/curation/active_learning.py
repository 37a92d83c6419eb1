"""Active learning: which unlabeled rows to label next (`lmtune data select`), ranked by an
acquisition function (acquisition.py) over a finished run's predictions, and folding the
annotated file back into the labeled set (`lmtune data merge`).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from ..data.minhash import normalise
from ..data.readers import read_examples
from ..data.tables import write_rows
from ..errors import DataError
from ..loading import load_run
from .acquisition import ACQUISITIONS


def acquire(run, pool: list[str], budget: int, strategy: str, *, labeled: list[str] = (), seed: int = 42,
            progress: bool = True) -> tuple[list[int], np.ndarray]:
    """Indices of the `budget` pool texts to label next, and the model's probabilities on the pool."""
    from ..evaluation.predict import embed_texts
    from ..loading import task_of

    method = ACQUISITIONS.get(strategy)()
    probs = task_of(run).proba(run.model, pool, progress=progress, desc="score the pool")  # as predict scores them
    embeddings = labeled_embeddings = None
    if method.uses_embeddings:
        embed = dict(max_length=run.max_length, progress=progress)
        embeddings = embed_texts(run.model.base_model, run.tokenizer, pool, desc="embed the pool", **embed)
        labeled_embeddings = embed_texts(run.model.base_model, run.tokenizer, list(labeled), desc="embed labeled",
                                         **embed) if labeled else None
    return method.pick(budget, probs, embeddings, labeled_embeddings, random.Random(seed)), probs


def select_file(pool_path: str | Path, run_dir: str | Path, out: str | Path, *, budget: int, strategy: str = "entropy",
                labeled_path: str | Path | None = None, seed: int = 42, text_column: str = "text",
                progress: bool = True) -> dict:
    """Write the `budget` pool rows to label next to `out`: their columns, an empty label column
    for the annotator, the model's guess and the acquisition rank."""
    run = load_run(run_dir)
    pool = read_examples(pool_path, text_column=text_column, label_column=None, require_label=False,
                         keep_row=True).examples
    labeled = read_examples(labeled_path, text_column=text_column, require_label=False).examples if labeled_path else []
    seen = {normalise(ex.text) for ex in labeled}
    candidates = [ex for ex in pool if normalise(ex.text) not in seen]
    if budget > len(candidates):
        raise DataError(f"--budget {budget} but the pool has {len(candidates)} rows not yet labeled",
                        where=str(pool_path), fix=f"use --budget {len(candidates)} or a larger pool.")
    picked, probs = acquire(run, [ex.text for ex in candidates], budget, strategy,
                            labeled=[ex.text for ex in labeled], seed=seed, progress=progress)
    label_column = run.config.get("data", {}).get("label_column", "label")
    rows = [{text_column: candidates[i].text, label_column: "", "model_guess": run.labels[int(probs[i].argmax())],
             "model_confidence": round(float(probs[i].max()), 4), "rank": rank, "source": candidates[i].source,
             **{k: v for k, v in candidates[i].row.items() if k not in (text_column, label_column)}}
            for rank, i in enumerate(picked, 1)]
    write_rows(out, rows)
    return {"pool": str(pool_path), "output": str(out), "strategy": strategy, "budget": budget,
            "pool_rows": len(pool), "already_labeled_skipped": len(pool) - len(candidates), "labels": run.labels}


def merge_files(annotated: str | Path, labeled: str | Path, out: str | Path, *, text_column: str = "text",
                label_column: str = "label", allow_new_labels: bool = False) -> dict:
    """Labeled set + the annotated rows -> `out`. Refuses (with the row) an empty label or one the
    labeled set does not have; rows already in the labeled set are skipped and counted."""
    from ..errors import closest

    base = read_examples(labeled, text_column=text_column, label_column=label_column, keep_row=True).examples
    new = read_examples(annotated, text_column=text_column, label_column=label_column, require_label=False,
                        keep_row=True).examples
    known = sorted({ex.label for ex in base})
    for ex in new:
        if ex.label is None:
            raise DataError("this row has no label", where=ex.source,
                            fix="fill in its label column, or delete the row if it should not be labeled.")
        if ex.label not in known and not allow_new_labels:
            hint = closest(ex.label, known)
            raise DataError(f"label {ex.label!r} is not one of the labeled set's ({', '.join(known)})", where=ex.source,
                            fix=f"did you mean {hint!r}?" if hint else "correct it, or pass --allow-new-labels.")
    seen = {normalise(ex.text) for ex in base}
    added = [ex for ex in new if normalise(ex.text) not in seen]
    helper = {"model_guess", "model_confidence", "rank", "source"}
    rows = [ex.row for ex in base] + [{k: v for k, v in ex.row.items() if k not in helper} for ex in added]
    write_rows(out, rows, columns=list(dict.fromkeys([*base[0].row, *(k for ex in added for k in ex.row
                                                                          if k not in helper)])))
    return {"labeled": str(labeled), "annotated": str(annotated), "output": str(out), "rows": len(rows),
            "added": len(added), "already_labeled_skipped": len(new) - len(added),
            "new_labels": sorted({ex.label for ex in added} - set(known))}

