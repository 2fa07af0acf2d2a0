"""Request body limits (413) and strict JSON (400), checked before the app sees the body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.responses import Problem, malformed_json
from service.domain.facts import MAX_FACT_BYTES

DEFAULT_LIMIT = 1024 * 1024
BATCH_LIMIT = 16 * 1024 * 1024


class StrictJSONError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise StrictJSONError(f"duplicate key '{key[:100]}'")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON value")


def strict_json_error(body: bytes) -> str | None:
    """Why ``body`` is not strict JSON: a duplicate key, or NaN/Infinity; None otherwise.

    Python's parser (which the framework uses) accepts both, silently keeping the last
    of two keys. Bodies that are not JSON at all are left to the framework's own 400.
    """
    try:
        json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except StrictJSONError as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None
    return None


class BodyLimit:
    """Buffers the body up to its route's limit, then hands it on; past the limit, 413.

    The app would buffer the body anyway to parse it; doing it here lets a too
    large body be refused without the framework turning the error into a 400,
    and a JSON body with duplicate keys or NaN be refused before anything reads it.
    """

    def __init__(self, app: ASGIApp, limits: Mapping[str, int] | None = None):
        self.app = app
        self.limits = limits or {"/v1/events": MAX_FACT_BYTES, "/v1/events/batch": BATCH_LIMIT}

    def limit_for(self, path: str) -> int:
        return self.limits.get(path.rstrip("/") or "/", DEFAULT_LIMIT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            reason = strict_json_error(body)
            if reason is not None:
                await malformed_json(reason)(scope, receive, send)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = Problem(413, "Payload too large", f"the request body exceeds {limit} bytes")
        await response(scope, receive, send)


def _is_json(scope: Scope) -> bool:
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    # Without a content type the framework parses the body as JSON too.
    return not content_type or b"json" in content_type
