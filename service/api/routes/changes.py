"""The changes feed: everything recorded, in recording order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from service.api.deps import Limit, Read, read_route
from service.api.schemas import ChangePage
from service.domain.facts import MAX_POSITION
from service.readmodels import queries

router = APIRouter(prefix="/v1/changes", tags=["changes"])


@read_route(router, "", "Recorded, corrected and retracted facts after a position", ChangePage)
async def list_changes(
    read: Read,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="position to start after; 0 = from the beginning")
    ] = 0,
    limit: Limit = 100,
) -> Response:
    return await read.json(lambda conn: queries.changes(conn, after, limit), as_of_us=None)
