"""Request body limits (413 as problem+json), checked before the app sees the body."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.responses import Problem
from service.domain.facts import MAX_FACT_BYTES

DEFAULT_LIMIT = 1024 * 1024
BATCH_LIMIT = 16 * 1024 * 1024


class BodyLimit:
    """Buffers the body up to its route's limit, then hands it on; past the limit, 413.

    The app would buffer the body anyway to parse it; doing it here lets a too
    large body be refused without the framework turning the error into a 400.
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
