"""A read's answer: its validators first, a ``304`` when the client already holds it (no
query run), else the query and its encoding in one hop to the thread pool.

One hop, not one per step: a route's sync dependencies and its sync body each cost a
round trip through the thread pool, and a read used to make four (the ``min_position``
check, taking the connection, the query, giving the connection back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from service.api import conditional
from service.api.auth import reads_need_token
from service.api.progress import Progress
from service.api.responses import JSON
from service.bootstrap import Container
from service.domain.instants import to_micros


async def answer_validators(
    container: Container,
    progress: Progress,
    scope: Scope,
    now: datetime,
    as_of_us: int | None,
    *,
    clock_dependent: bool,
) -> conditional.Validators:
    """The validators of the answer to the request of ``scope``, made without its query."""
    now_us = to_micros(now)
    settled = as_of_us is not None and not clock_dependent and await progress.settled(as_of_us, now_us)
    position, next_due = (
        (0, None) if settled else await progress.position(now_us=now_us, clock_dependent=clock_dependent)
    )
    return conditional.validators(
        scope["path"],
        answer_query(scope["query_string"]),
        settled=settled,
        position=position,
        next_due_us=next_due if clock_dependent else None,
        private=reads_need_token(container.token_scopes, container.settings.public_reads),
    )


def answer_query(query: bytes) -> bytes:
    """The query string, less what does not change the answer (``min_position`` says when, not what)."""
    if b"min_position" not in query:
        return query
    kept = [(k, v) for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k != "min_position"]
    return urlencode(kept).encode()


class ReadAnswer:
    def __init__(self, request: Request, container: Container, progress: Progress, now: datetime):
        self.request = request
        self.container = container
        self.progress = progress
        self.now = now

    async def validators(self, as_of_us: int | None, *, clock_dependent: bool = False) -> conditional.Validators:
        """``clock_dependent``: the answer holds a moment taken from the clock (``at`` left out)."""
        return await answer_validators(
            self.container, self.progress, self.request.scope, self.now, as_of_us, clock_dependent=clock_dependent
        )

    def held(self, found: conditional.Validators) -> bool:
        """Whether the client's If-None-Match names the answer's tag."""
        return conditional.matches(self.request.headers.get("if-none-match"), found.etag)

    def wants_any(self) -> bool:
        """If-None-Match: ``*``: a 304 if there is an answer at all (the query has to say)."""
        star, _ = conditional.listed_tags(self.request.headers.get("if-none-match"))
        return star

    async def json(
        self, build: Callable[[Connection], Any], *, as_of_us: int | None, clock_dependent: bool = False
    ) -> Response:
        """``build`` reads the answer on a read-model connection, in a read slot, off the loop."""
        found = await self.validators(as_of_us, clock_dependent=clock_dependent)
        if self.held(found):
            return conditional.not_modified(found)
        body = await run_in_threadpool(self._encoded, build)
        if self.wants_any():
            return conditional.not_modified(found)
        return Response(body, media_type=JSON.media_type, headers=found.headers())

    def _encoded(self, build: Callable[[Connection], Any]) -> bytes:
        with self.container.reading() as conn:
            return orjson.dumps(build(conn))
