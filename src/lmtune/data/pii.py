"""Mask personal data in text: emails, URLs, card-like numbers, phone numbers.

Used by the server's access logs (and the data cleaner). Patterns are deliberately broad:
a log that masks a date now and then is better than one that leaks a phone number.
"""
from __future__ import annotations

import re

# Order matters: an email holds a dot-name a URL pattern would take, a card number is digits a
# phone pattern would take.
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    # a URL ends before trailing punctuation: "see https://x.io/a, then" keeps its comma
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("PHONE", re.compile(r"(?<![\w+])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,3}\b")),
]


def mask_pii(text: str) -> str:
    """Each match becomes [EMAIL], [URL], [CARD] or [PHONE]."""
    for name, pattern in PATTERNS:
        text = pattern.sub(f"[{name}]", text)
    return text
