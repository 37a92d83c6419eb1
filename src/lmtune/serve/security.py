"""API keys: stored as SHA-256 digests, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from ..errors import ConfigError


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def load_api_keys(path: str | Path) -> list[str]:
    """One key per line, or `sha256:<hex digest>` so the file need not hold the key itself;
    blank lines and `#` comments are ignored. Returns the digests."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"API key file not found: {path}", fix="check the --api-key-file path.")
    digests = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("sha256:"):
            hexdigest = line[len("sha256:"):].strip().lower()
            if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
                raise ConfigError("malformed sha256 digest", where=f"{path}:{number}",
                                  fix="write sha256: followed by 64 hex digits, or the key itself.")
            digests.append(hexdigest)
        elif len(line) < 16:
            raise ConfigError("API key shorter than 16 characters", where=f"{path}:{number}",
                              fix="use a long random key, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'.")
        else:
            digests.append(digest(line))
    if not digests:
        raise ConfigError(f"no API keys in {path}", fix="write one key per line.")
    return digests


def key_allowed(presented: str | None, digests: list[str]) -> bool:
    """Checks every stored digest (no early exit), so timing says nothing about which matched."""
    if presented is None:
        return False
    candidate = digest(presented)
    allowed = False
    for stored in digests:
        allowed |= hmac.compare_digest(candidate, stored)
    return allowed
