"""Unlabeled text for continued pretraining: a .txt file (one document per line), a directory of
.txt files (one document per file), the text column of CSV/TSV/JSONL/Parquet, or a built-in
dataset's texts. Too-short texts are skipped and reported, never dropped silently."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DataConfig
from ..errors import DataError
from .builtin import load_builtin
from .examples import Reject
from .readers import detect_format, fingerprint, read_examples


@dataclass
class Corpus:
    train: list[str]
    held_out: list[str]
    rejects: list[Reject] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    available: int = 0  # train texts before a max_texts subsample

    def summary(self) -> dict:
        return {"train_texts": len(self.train), "available_train_texts": self.available,
                "held_out_texts": len(self.held_out),
                "rejected": len(self.rejects), "fingerprints": self.fingerprints}


def read_corpus(cfg: DataConfig, min_words: int, seed: int, max_texts: int | None = None) -> Corpus:
    rejects: list[Reject] = []
    if cfg.builtin:
        dataset = load_builtin(cfg.builtin)
        texts = [(ex.source, ex.text) for ex in dataset.examples]
        prints = {f"builtin:{dataset.name}": fingerprint(dataset.files)}
        where = f"builtin:{dataset.name}"
    else:
        texts, prints = read_texts(Path(cfg.train), cfg, rejects)
        where = cfg.train

    kept = []
    for source, text in texts:
        if len(text.split()) < min_words:
            rejects.append(Reject(*_split_source(source), f"shorter than pretrain.min_words={min_words}", text[:2000]))
        else:
            kept.append(text)
    if not kept:
        raise DataError(f"no text of at least {min_words} words ({len(texts)} texts, all too short)" if texts
                        else "the corpus is empty", where=where,
                        fix="check the file holds the domain text, or lower pretrain.min_words.")
    rng = random.Random(seed)
    rng.shuffle(kept)
    size = cfg.dev_size
    n_held = min(len(kept) - 1, round(size * len(kept)) if size < 1 else int(size))
    train = kept[n_held:]
    return Corpus(train[:max_texts] if max_texts else train, kept[:n_held], rejects, prints, len(train))


def read_texts(path: Path, cfg: DataConfig, rejects: list[Reject]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(source, text) pairs of a text file, a directory of .txt files or a table's text column,
    and the file fingerprint."""
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise DataError("the directory holds no .txt files", where=str(path), fix="put one document per .txt file there.")
    texts = []
    for f in files:
        texts += _read_one(f, cfg, per_file=path.is_dir(), rejects=rejects)
    return texts, {str(path): fingerprint(files)}


def _read_one(path: Path, cfg: DataConfig, per_file: bool, rejects: list[Reject]) -> list[tuple[str, str]]:
    if not path.is_file():
        raise DataError(f"file not found: {path}", fix="check the path.")
    head = path.open("rb").read(8192)
    if b"\x00" in head:
        raise DataError("this looks like a binary file (it holds NUL bytes), not text", where=str(path),
                        fix="give a UTF-8 text file, or a CSV/JSONL/Parquet file with a text column.")
    if per_file:  # one document per file
        try:
            return [(f"{path}:1", " ".join(path.read_text(encoding="utf-8").split()))]
        except UnicodeDecodeError as exc:
            raise DataError(f"bytes that are not UTF-8 at byte {exc.start}", where=str(path),
                            fix="re-save the file as UTF-8.") from None
    fmt = detect_format(path, cfg.format)
    result = read_examples(path, text_column=cfg.text_column, label_column=None, require_label=False,
                           fmt=fmt, on_bad_rows=cfg.on_bad_rows)
    rejects.extend(result.rejects)
    return [(ex.source, ex.text) for ex in result.examples]


def _split_source(source: str) -> tuple[str, int]:
    name, _, line = source.rpartition(":")
    return (name, int(line)) if line.isdigit() else (source, 0)
