"""Validators of read answers (``ETag``), how long caches may keep them (``Cache-Control``),
and ``If-None-Match``. The rules, and why, are docs/api.md's "Caching".

- A *settled* answer (``as_of`` far enough in the past, see service.api.progress, and no
  moment taken from the clock) never changes: a strong tag made from the request alone,
  and ``immutable``.
- Any other answer is *current*: a weak tag made from the request and the read models'
  position (and, when ``at`` is the clock, the next moment at which a fact comes due), and
  ``no-cache``, so that a cache asks again each time, and is answered ``304`` while the tag holds.
  Weak, because two such answers say the same but are not the same bytes: they echo the
  moment of the request (``as_of``, ``at``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from starlette.responses import Response

# Part of every tag: raised when answers change for the same read models (a new answer shape).
TAG_VERSION = b"1"
IMMUTABLE = "max-age=31536000, immutable"
REVALIDATE = "no-cache"
# If-None-Match is a short list of tags; a longer header is not worth parsing.
MAX_IF_NONE_MATCH = 8192


@dataclass(frozen=True)
class Validators:
    etag: str
    cache_control: str
    vary: str | None

    def headers(self) -> dict[str, str]:
        headers = {"ETag": self.etag, "Cache-Control": self.cache_control}
        if self.vary is not None:
            headers["Vary"] = self.vary
        return headers


def _digest(*parts: bytes) -> str:
    hashed = hashlib.blake2b(b"\0".join((TAG_VERSION, *parts)), digest_size=15).digest()
    return base64.urlsafe_b64encode(hashed).decode()


def validators(
    path: str,
    query: bytes,
    *,
    settled: bool,
    position: int,
    next_due_us: int | None,
    private: bool,
) -> Validators:
    """``private``: reads need a token, so only the caller's own cache may keep the answer."""
    audience = "private" if private else "public"
    vary = "Authorization" if private else None
    target = path.encode()
    if settled:
        return Validators(f'"{_digest(b"settled", target, query)}"', f"{audience}, {IMMUTABLE}", vary)
    due = b"" if next_due_us is None else str(next_due_us).encode()
    tag = _digest(b"current", target, query, str(position).encode(), due)
    control = REVALIDATE if not private else f"private, {REVALIDATE}"
    return Validators(f'W/"{tag}"', control, vary)


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def listed_tags(header: str | None) -> tuple[bool, frozenset[str]]:
    """(whether it is ``*``, the tags it lists, without their weakness); malformed entries are
    left out, so a malformed header matches nothing and the full answer goes out."""
    if not header or len(header) > MAX_IF_NONE_MATCH:
        return False, frozenset()
    if header.strip() == "*":
        return True, frozenset()
    tags = (_opaque(entry.strip()) for entry in header.split(","))
    return False, frozenset(t for t in tags if len(t) >= 2 and t[0] == '"' and t[-1] == '"' and '"' not in t[1:-1])


def matches(header: str | None, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 13.1.2), for a tag other than ``*``."""
    _, tags = listed_tags(header)
    return _opaque(etag) in tags


def not_modified(found: Validators) -> Response:
    # A 304 carries the headers a 200 would have had about caching, and no body.
    return Response(status_code=304, headers=found.headers())
