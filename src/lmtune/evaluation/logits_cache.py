"""A model's logits over a large list of texts, computed a chunk at a time and kept on disk.

Each chunk's rows are saved as their own .npy file (atomically), so a pass over a large pool
holds one chunk's inputs at a time, a killed pass resumes at the first missing chunk, and
several processes can share a pass chunk by chunk. The
folder's key.json says what the rows are of (model, texts, length); a folder made for another
key is emptied first, so stale rows are never read back.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
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
                  chunk: int = CHUNK_TEXTS, shard: tuple[int, int] = (0, 1), log=lambda message: None,
                  poll_seconds: float = 1.0) -> np.ndarray:
    """compute(texts) -> one row per text, over `texts` in chunks, cached in `folder` under `key`
    (with the texts' fingerprint added); returns all rows in order. `shard` = (rank, processes):
    several processes (torchrun ranks) share the pass, each computing every processes-th chunk
    and reading the others' from the folder once they are written; rank 0 owns the folder."""
    rank, processes = shard
    folder = Path(folder)
    key = json.loads(json.dumps({**key, "texts": texts_fingerprint(texts), "chunk": chunk}, default=str))
    key_file = folder / "key.json"
    if rank == 0:
        if folder.exists() and _read(key_file) != key:
            if key_file.is_file():
                log(f"{folder}: cached for other texts or another model; computing again")
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not key_file.is_file():
            atomic_write(key_file, json.dumps(key, indent=2))
    while _read(key_file) != key:  # the other ranks start once rank 0 has set the folder up
        time.sleep(poll_seconds)
    starts = list(range(0, len(texts), chunk))
    paths = [folder / f"part-{i:05d}.npy" for i in range(len(starts))]
    done = sum(path.is_file() for path in paths)
    if done and done < len(paths) and rank == 0:
        log(f"{folder}: {done} of {len(paths)} chunks already computed; resuming")
    for i, (start, path) in enumerate(zip(starts, paths)):
        if i % processes == rank and not path.is_file():
            rows = np.asarray(compute(list(texts[start:start + chunk])), dtype=np.float32)
            buffer = io.BytesIO()
            np.save(buffer, rows)
            atomic_write(path, buffer.getvalue())
    while not all(path.is_file() for path in paths):  # the other ranks' chunks
        time.sleep(poll_seconds)
    parts = [np.load(path) for path in paths]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def _read(path: Path) -> dict | None:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
