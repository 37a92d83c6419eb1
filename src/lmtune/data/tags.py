"""Tag schemes of token classification (BIO, BIOES, plain): detection and validation.

BIO: B-X begins an entity, I-X continues it, O is outside. BIOES adds S-X (a one-word entity)
and E-X (the last word). `plain` tags carry no span structure (part-of-speech tags, say).
"""
from __future__ import annotations

PREFIXES = {"bio": ("B", "I"), "bioes": ("B", "I", "E", "S")}


def detect_scheme(tags: set[str]) -> str:
    """bioes when any tag is S-/E-X, bio when every tag is O or B-/I-X, else plain."""
    spans = [t for t in tags if t != "O"]
    if spans and all(looks_like_spans(t) for t in spans):
        return "bioes" if any(t[0] in "ES" for t in spans) else "bio"
    return "plain"


def looks_like_spans(tag: str) -> bool:
    """A B-/I-/E-/S-TYPE tag."""
    return len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES"


def odd_tags(tags: set[str]) -> list[str]:
    """The tags that alone make `detect_scheme` read a file as plain: where most span tags look
    like BIO/BIOES (B-PER, I-PER, ...), those that do not (B_PER, a typo) are likely mistakes."""
    spans = [t for t in tags if t != "O"]
    odd = sorted(t for t in spans if not looks_like_spans(t))
    return odd if spans and len(odd) < len(spans) - len(odd) else []


def tag_problem(tag: str, scheme: str) -> str | None:
    """Why `tag` cannot be a tag of `scheme`, or None."""
    if scheme == "plain" or tag == "O":
        return None
    prefixes = PREFIXES[scheme]
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in prefixes:
        return f"tag {tag!r} is not O or {'/'.join(p + '-TYPE' for p in prefixes)} ({scheme.upper()} scheme)"
    return None


def transition_problems(tags: tuple[str, ...] | list[str], scheme: str) -> list[tuple[int, str]]:
    """Broken spans under strict BIO/BIOES, as (word index, problem): I-X (or E-X) not preceded
    by B-X or I-X of the same type."""
    if scheme == "plain":
        return []
    return [(i, f"word {i + 1}: {tag} follows {previous} (a span must start with B-{tag[2:]})")
            for i, (previous, tag) in enumerate(zip(["O", *tags], tags)) if _continues_nothing(tag, previous)]


def repair(tags: list[str]) -> list[str]:
    """The usual lenient reading (seqeval's default): a span that starts with I-X (or E-X) starts there."""
    out, previous = [], "O"
    for tag in tags:
        if _continues_nothing(tag, previous):
            tag = ("B-" if tag[0] == "I" else "S-") + tag[2:]
        out.append(tag)
        previous = tag
    return out


def _continues_nothing(tag: str, previous: str) -> bool:
    """An I-X or E-X whose previous tag is not a B-X or I-X of the same type."""
    return tag[:2] in ("I-", "E-") and (previous == "O" or previous[2:] != tag[2:] or previous[0] not in "BI")
