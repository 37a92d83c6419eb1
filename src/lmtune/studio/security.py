"""Who may use the studio: the holder of the random token it printed, from a page it served.

- The token arrives once in the URL (as Jupyter's does), is swapped for an HttpOnly, SameSite=
  Strict cookie and dropped from the address bar; scripts may send it as a Bearer header.
- Every state-changing request must carry the CSRF token of the pages (a hidden form field or an
  X-CSRF-Token header) and, where the browser says, come from the studio's own origin.
- The Host header must name the studio (a DNS-rebinding page cannot reach it by another name).
- Paths built from a request stay inside the studio's directory.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import DataError

COOKIE = "lmtune_studio"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null` with form posts
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    def __init__(self, token: str, hosts: set[str]):
        self.token = token
        self.csrf = hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()
        self.hosts = hosts  # host[:port] values the Host header may carry

    def _equal(self, presented: str | None, expected: str) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())

    def host_allowed(self, host: str | None) -> bool:
        if not self.hosts:  # bound to every address (--expose): the names it is reached by are not known
            return True
        return host is not None and host.lower() in self.hosts

    def token_in_url(self, query_token: str | None) -> bool:
        return self._equal(query_token, self.token)

    def authorised(self, cookie: str | None, authorization: str | None) -> bool:
        bearer = authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None
        return self._equal(cookie, self.token) or self._equal(bearer, self.token)

    def same_origin(self, origin: str | None, fetch_site: str | None, host: str) -> bool:
        """Browsers send Origin (and Sec-Fetch-Site) with a form post; a cross-site one is refused."""
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return False
        if origin is None:
            return True  # not a browser (curl, a script with the token): the token and the CSRF field decide
        return origin != "null" and urlsplit(origin).netloc.lower() == host.lower()

    def csrf_valid(self, presented: str | None) -> bool:
        return self._equal(presented, self.csrf)


def hosts_for(host: str, port: int) -> set[str]:
    if host in ("0.0.0.0", "::"):
        return set()
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    return {f"{name}:{port}".lower() for name in names} | ({name.lower() for name in names} if port == 80 else set())


SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str, default: str = "upload") -> str:
    """A file name of letters, digits, dot, dash and underscore; no directory part, no leading dot."""
    name = SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).lstrip(".")
    return name[:100] or default


def inside(directory: Path, *parts: str) -> Path:
    """directory/parts..., refused where it would resolve outside `directory`."""
    root = Path(directory).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise DataError(f"{'/'.join(parts)} is outside the studio directory", where=str(root),
                        fix="use a name inside the studio directory.")
    return path
