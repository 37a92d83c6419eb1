"""Mask personal data in text: emails, IBANs, IP addresses, URLs, card-like numbers, phone numbers.

Used by the server's access logs (and the data cleaner). Patterns are deliberately broad:
a log that masks a date now and then is better than one that leaks a phone number.
"""
from __future__ import annotations

import re

# Order matters: an email holds a dot-name a URL pattern would take, a card number is digits a
# phone pattern would take.
PATTERNS: list[tuple[str, re.Pattern]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    # IBAN: two letters, two check digits, 11-30 letters/digits, often in groups of four
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")),
    # IPv4 before URL and PHONE (dotted digits); IPv6 in full (8 groups) or compressed (with ::),
    # so a time like 12:30:45 is not one
    ("IP", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
                      r"|(?<![\w:])(?:(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
                      r"|(?:[0-9a-fA-F]{1,4}:){1,7}:(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})?"
                      r"|::[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){0,6})(?![\w:])")),
    # a URL ends before trailing punctuation: "see https://x.io/a, then" keeps its comma
    ("URL", re.compile(r"\b(?:https?://|www\.)[^\s<>\"']*[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)),
    ("CARD", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("PHONE", re.compile(r"(?<![\w+])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,3}\b")),
]


def mask_pii(text: str) -> str:
    """Each match becomes [EMAIL], [IBAN], [IP], [URL], [CARD] or [PHONE]."""
    for name, pattern in PATTERNS:
        text = pattern.sub(f"[{name}]", text)
    return text
