"""The changes feed as Server-Sent Events: ``id:`` is the position, ``Last-Event-ID`` resumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import CanRead, Connect, Reading, ReadModelsWatch
from service.domain.errors import InvalidInputError
from service.domain.facts import MAX_POSITION
from service.readmodels import queries
from service.readmodels.worker import PositionWatch

router = APIRouter(prefix="/v1/stream", tags=["changes"])

PAGE = 200
# Another process may be running the projection: look at the read models this often at least.
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15


def _page(reading: Connect, after: int) -> dict[str, Any]:
    # A read slot per page, as every other read takes: a stream waits on its client and on
    # new changes for as long as it is open, and must not hold a slot or a connection meanwhile.
    with reading() as conn:
        return queries.changes(conn, after, PAGE)


async def _changes(reading: Connect, watch: PositionWatch, after: int) -> AsyncIterator[dict[str, Any]]:
    last_poll = 0.0
    while True:
        if watch.position > after or time.monotonic() - last_poll >= POLL_SECONDS:
            last_poll = time.monotonic()
            page = await run_in_threadpool(_page, reading, after)
            for item in page["items"]:
                yield {"id": str(item["position"]), "event": item["kind"], "data": orjson.dumps(item).decode()}
            after = page["next_after"]
            if len(page["items"]) == PAGE:
                continue
        await asyncio.sleep(0.05)


@router.get(
    "",
    dependencies=[CanRead],
    summary="Everything recorded, as Server-Sent Events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "one event per change"}},
)
async def stream(
    reading: Reading,
    watch: ReadModelsWatch,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_POSITION, description="position to start after; 0 = the beginning")
    ] = None,
    last_event_id: Annotated[str | None, Header(description="resume after this position")] = None,
) -> EventSourceResponse:
    start = after
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_POSITION:
            raise InvalidInputError(
                "Last-Event-ID must be a position", errors=[{"field": "Last-Event-ID", "message": "not a position"}]
            )
        start = int(last_event_id)
    return EventSourceResponse(_changes(reading, watch, start or 0), ping=HEARTBEAT_SECONDS)
