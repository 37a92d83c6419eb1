"""A model's logits over a large list of texts, computed a chunk at a time and kept on disk.

Each chunk's rows are saved as their own .npy file (atomically), so a pass over a large pool
holds one chunk's inputs at a time and a killed pass resumes at the first missing chunk. The
folder's key.json says what the rows are of (model, texts, length); a folder made for another
key is emptied first, so stale rows are never read back.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..artifacts import atomic_write, read_json

CHUNK_TEXTS = 2048


def texts_fingerprint(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return f"{len(texts)}:{digest.hexdigest()[:16]}"


def cached_logits(compute: Callable[[list[str]], np.ndarray], texts: Sequence[str], folder: Path, key: dict, *,
                  chunk: int = CHUNK_TEXTS, log=lambda message: None) -> np.ndarray:
    """compute(texts) -> one row per text, over `texts` in chunks, cached in `folder` under `key`
    (with the texts' fingerprint added); returns all rows in order."""
    folder = Path(folder)
    key = {**key, "texts": texts_fingerprint(texts), "chunk": chunk}
    key_file = folder / "key.json"
    if folder.exists() and (not key_file.is_file() or _read(key_file) != json.loads(json.dumps(key))):
        if key_file.is_file():
            log(f"{folder}: cached for other texts or another model; computing again")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not key_file.is_file():
        atomic_write(key_file, json.dumps(key, indent=2, default=str))
    parts = []
    starts = range(0, len(texts), chunk)
    done = sum((folder / f"part-{i:05d}.npy").is_file() for i, _ in enumerate(starts))
    if done and done < len(starts):
        log(f"{folder}: {done} of {len(starts)} chunks already computed; resuming")
    for i, start in enumerate(starts):
        path = folder / f"part-{i:05d}.npy"
        if not path.is_file():
            rows = np.asarray(compute(list(texts[start:start + chunk])), dtype=np.float32)
            buffer = io.BytesIO()
            np.save(buffer, rows)
            atomic_write(path, buffer.getvalue())
        parts.append(np.load(path))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _read(path: Path) -> dict | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
