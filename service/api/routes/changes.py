"""The changes feed: everything recorded, in recording order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CanRead, Limit, ReadConn
from service.api.responses import JSON
from service.api.schemas import READ_PROBLEMS, ChangePage, answers
from service.domain.facts import MAX_POSITION
from service.readmodels import queries

router = APIRouter(prefix="/v1/changes", tags=["changes"])


@router.get(
    "",
    dependencies=[CanRead],
    summary="Recorded, corrected and retracted facts after a position",
    responses=answers(ChangePage, *READ_PROBLEMS),
)
def list_changes(
    conn: ReadConn,
    after: Annotated[
        int, Query(ge=0, le=MAX_POSITION, description="position to start after; 0 = from the beginning")
    ] = 0,
    limit: Limit = 100,
) -> JSON:
    return JSON(queries.changes(conn, after, limit))
