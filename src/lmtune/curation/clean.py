"""`lmtune data clean`: normalise text, strip HTML, drop duplicates, mask personal data.

Every dropped row is listed (file:line, reason, the row it duplicates) in a rejects file beside
the output and counted in the report; nothing vanishes silently. Other columns pass through.
"""
from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

from .. import artifacts as art
from ..data.examples import TextExample
from ..data.minhash import normalise
from ..data.pii import mask_pii
from ..data.readers import read_examples
from ..data.tables import write_rows
from .inspect import NEAR_THRESHOLD, exact_duplicate_groups, near_duplicates

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]+>", re.IGNORECASE | re.DOTALL)
_BLOCK = re.compile(r"<\s*(br|/p|/div|/li|/h[1-6])\b[^>]*>", re.IGNORECASE)


def strip_html(text: str) -> str:
    text = _BLOCK.sub(" ", text)  # a line break or paragraph end is a word boundary
    return html.unescape(_TAG.sub("", text))


def normalise_text(text: str) -> str:
    """NFKC (full-width letters, ligatures, non-breaking spaces), control characters removed,
    whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return " ".join(text.split())


def clean_file(path: str | Path, out: str | Path, *, text_column: str = "text", label_column: str = "label",
               strip_tags: bool = True, dedupe: bool = True, near_dedupe: bool = False,
               near_threshold: float = NEAR_THRESHOLD, pii: bool = False) -> dict:
    """Write the cleaned rows to `out` (format from its extension); returns the report, which is
    also saved as OUT.report.json; dropped rows go to OUT.rejects.jsonl."""
    out = Path(out)
    result = read_examples(path, text_column=text_column, label_column=label_column, require_label=False,
                           on_bad_rows="skip", keep_row=True)
    rows, changed = [], {"html": 0, "normalised": 0, "pii": 0}
    for ex in result.examples:
        text = ex.text
        if strip_tags and (stripped := strip_html(text)) != text:
            changed["html"] += 1
            text = stripped
        if (normalised := normalise_text(text)) != text:
            changed["normalised"] += 1
            text = normalised
        if pii and (masked := mask_pii(text)) != text:
            changed["pii"] += 1
            text = masked
        rows.append((ex, text))
    dropped = [{"source": r.where(), "reason": f"unreadable row: {r.reason}", "raw": r.raw} for r in result.rejects]
    keep = [True] * len(rows)
    cleaned = [TextExample(text, ex.label, ex.source) for ex, text in rows]
    for group in exact_duplicate_groups(cleaned) if dedupe else []:
        for i in group[1:]:
            keep[i] = False
            dropped.append(_drop(rows[i], f"exact duplicate of {cleaned[group[0]].source}"))
    if near_dedupe:
        for i, j, score in near_duplicates(cleaned, near_threshold):
            if keep[i] and keep[j]:
                keep[j] = False
                dropped.append(_drop(rows[j], f"near duplicate (Jaccard {score}) of {cleaned[i].source}"))
    empty = [i for i, (_, text) in enumerate(rows) if keep[i] and not normalise(text)]
    for i in empty:
        keep[i] = False
        dropped.append(_drop(rows[i], "empty after cleaning"))
    kept = [{**ex.row, text_column: text} for (ex, text), k in zip(rows, keep) if k]
    write_rows(out, kept)  # columns in first-seen order over all rows (JSONL rows may differ)
    rejects = out.with_name(out.name + ".rejects.jsonl")
    art.write_json_lines(rejects, dropped)
    report = {"input": str(path), "output": str(out), "rows_in": len(result.examples) + len(result.rejects),
              "rows_out": len(kept), "dropped": len(dropped), "rejects_file": str(rejects), "changed": changed,
              "dropped_by_reason": _count(d["reason"].split(" of ")[0].split(" (")[0] for d in dropped),
              "options": {"strip_html": strip_tags, "dedupe": dedupe, "near_dedupe": near_dedupe, "pii": pii}}
    art.write_json(out.with_name(out.name + ".report.json"), report)
    return report


def _drop(row, reason: str) -> dict:
    ex, text = row
    return {"source": ex.source, "reason": reason, "text": text[:500]}


def _count(reasons) -> dict:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return counts
