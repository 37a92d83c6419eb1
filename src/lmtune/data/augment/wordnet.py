"""WordNet synonyms read straight from the WordNet 3.0 database files (data.noun, data.verb,
data.adj, data.adv), with no download at run time.

Where they are looked for: $LMTUNE_WORDNET_DIR when set (only there); else /usr/share/wordnet (Debian/Ubuntu:
`apt install wordnet-base`); nltk's data folders (`nltk_data/corpora/wordnet`).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from ...errors import DataError

FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def candidate_dirs() -> list[Path]:
    if os.environ.get("LMTUNE_WORDNET_DIR"):  # set: the only place looked at, so a wrong value is reported
        return [Path(os.environ["LMTUNE_WORDNET_DIR"])]
    nltk = [os.environ.get("NLTK_DATA"), Path.home() / "nltk_data", "/usr/share/nltk_data", "/usr/local/share/nltk_data"]
    return [Path("/usr/share/wordnet"), Path("/usr/local/share/wordnet")] + \
        [Path(base) / "corpora" / "wordnet" for base in nltk if base]


def wordnet_dir() -> Path:
    for candidate in candidate_dirs():
        if all((candidate / name).is_file() for name in FILES):
            return candidate
    raise DataError("WordNet is not installed (needed by the synonym and insertion augmenters)",
                    fix="install it offline from your OS packages: `apt install wordnet-base` (Debian/Ubuntu), "
                        "or point LMTUNE_WORDNET_DIR at a folder holding data.noun, data.verb, data.adj and data.adv.")


def synonym_table() -> dict[str, tuple[str, ...]]:
    return _synonym_table(wordnet_dir())


@functools.lru_cache(maxsize=4)
def _synonym_table(folder: Path) -> dict[str, tuple[str, ...]]:
    """word -> its single-word synonyms over all its synsets (lower case)."""
    table: dict[str, set[str]] = {}
    for name in FILES:
        with (folder / name).open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(" "):  # the licence header
                    continue
                fields = line.split(" ", 4)
                count = int(fields[3], 16)
                words = line.split(" ")[4:4 + 2 * count:2]
                words = [w.lower() for w in words if "_" not in w]
                words = [w.split("(")[0] for w in words]  # adjective markers: "big(a)"
                for word in words:
                    table.setdefault(word, set()).update(x for x in words if x != word)
    return {word: tuple(sorted(syns)) for word, syns in table.items() if syns}


# Function words are never replaced: WordNet would turn "a" into "ampere" and "it" into "information technology".
STOPWORDS = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves""".split())


def synonyms(word: str) -> tuple[str, ...]:
    word = word.strip(".,;:!?\"'()[]").lower()
    return () if word in STOPWORDS or len(word) < 3 else synonym_table().get(word, ())


def match_case(replacement: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    return replacement.capitalize() if original[:1].isupper() else replacement
