"""The changes feed: everything recorded, in recording order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import Limit, ReadConn, read_route
from service.api.responses import JSON
from service.api.schemas import ChangePage
from service.domain.facts import MAX_POSITION
from service.readmodels import queries

router = APIRouter(prefix="/v1/changes", tags=["changes"])


@read_route(router, "", "Recorded, corrected and retracted facts after a position", ChangePage)
def list_changes(
    conn: ReadConn,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="position to start after; 0 = from the beginning")
    ] = 0,
    limit: Limit = 100,
) -> JSON:
    return JSON(queries.changes(conn, after, limit))
