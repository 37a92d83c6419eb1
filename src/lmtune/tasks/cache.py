"""Encoded datasets cached on disk by content: a rerun, a resume or another seed on the same
texts with the same tokenizer and settings loads the features instead of tokenizing again.

Where: $LMTUNE_CACHE_DIR, else $XDG_CACHE_HOME/lmtune/encoded (~/.cache/...); LMTUNE_CACHE_DIR=off
turns it off. Only the newest MAX_ENTRIES files are kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any, Callable

from ..artifacts import atomic_write

MAX_ENTRIES = 32


def cache_dir() -> Path | None:
    configured = os.environ.get("LMTUNE_CACHE_DIR")
    if configured is not None:
        return None if configured.lower() in ("", "0", "off", "false", "none") else Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lmtune" / "encoded"


def tokenizer_fingerprint(tokenizer) -> str:
    """What decides the tokens: the vocabulary and rules (a fast tokenizer's JSON, less the
    truncation/padding state each call leaves behind), not the path it was loaded from."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        spec = json.dumps(spec, sort_keys=True)
    else:
        spec = repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(f"{type(tokenizer).__name__}|{spec}".encode()).hexdigest()


def cached(parts: tuple, compute: Callable[[], Any]) -> Any:
    """compute(), or its earlier result for the same `parts` (anything picklable that decides it)."""
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{hashlib.sha256(pickle.dumps(parts, protocol=4)).hexdigest()}.pkl"
    try:
        value = pickle.loads(path.read_bytes())
        os.utime(path)  # most recently used stays
        return value
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass  # missing, half-written by a killed run, or from another version: recompute
    value = compute()
    try:
        atomic_write(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        _evict(folder)
    except OSError:
        pass  # a read-only home must not stop training
    return value


def _evict(folder: Path) -> None:
    entries = sorted(folder.glob("*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
