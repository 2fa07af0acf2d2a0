"""Facts: record one or a batch, list them, read one with its revisions."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body
from sqlalchemy import Connection
from starlette.responses import Response

from service.api.deps import (
    AppendsDep,
    AxesDep,
    CanWrite,
    Cursor,
    FactFilterDep,
    Limit,
    Read,
    StoreDep,
    read_route,
)
from service.api.responses import JSON, page_body
from service.api.schemas import (
    MAX_BATCH_FACTS,
    PROBLEM,
    Batch,
    BatchOut,
    ChangedFact,
    FactPage,
    FactWithRevisions,
    StoredFact,
    answers,
)
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.errors import NotFoundError
from service.domain.facts import FactIn
from service.readmodels import queries

router = APIRouter(prefix="/v1/events", tags=["facts"])

EXAMPLE = {
    "type": "PersonnelRepositioned",
    "occurred_at": "2020-01-07",
    "precision": "day",
    "reported_at": "2020-01-07T15:00:00Z",
    "summary": "Canada moves some of its 500 troops from Iraq to Kuwait",
    "actors": [{"id": "canada", "role": "actor"}, {"id": "jonathan-vance", "role": "announced_by"}],
    "location": {"name": "Iraq", "country": "IQ"},
    "sources": [{"url": "https://example.org/article", "publisher": "News Agencies"}],
    "confidence": "reported",
    "personnel": None,
    "from": {"name": "Iraq", "country": "IQ"},
    "to": {"name": "Kuwait", "country": "KW"},
    "temporary": True,
}


@router.post(
    "",
    status_code=201,
    dependencies=[CanWrite],
    summary="Record one fact",
    responses={
        200: {"model": StoredFact, "description": "already recorded with this body; nothing new"},
        201: {"model": StoredFact, "description": "recorded"},
        409: PROBLEM,
        413: PROBLEM,
        422: PROBLEM,
    },
)
async def record_event(
    fact: Annotated[FactIn, Body(openapi_examples={"repositioning": {"value": EXAMPLE}})],
    appends: AppendsDep,
) -> JSON:
    outcome = await appends.record(fact)
    return JSON(
        outcome.fact,
        status_code=201 if outcome.created else 200,
        headers={"Location": f"/v1/events/{outcome.fact['event_id']}"},
    )


@router.post(
    "/batch",
    status_code=201,
    dependencies=[CanWrite],
    summary=f"Record up to {MAX_BATCH_FACTS:,} facts, all or nothing",
    responses=answers(BatchOut, 409, 413, 422, status=201),
)
def record_batch(batch: Batch, store: StoreDep) -> JSON:
    outcomes = store.record_facts(batch.events)
    return JSON({"items": [o.fact for o in outcomes]}, status_code=201)


@router.post(
    "/{event_id}/corrections",
    status_code=201,
    dependencies=[CanWrite],
    summary="Correct the record of a fact",
    responses=answers(ChangedFact, 404, 409, 413, 422, status=201),
)
def correct_event(event_id: UUID, correction: CorrectionIn, store: StoreDep) -> JSON:
    outcome = store.correct_fact(str(event_id), correction)
    return JSON(outcome.fact, status_code=201)


@router.post(
    "/{event_id}/retraction",
    status_code=201,
    dependencies=[CanWrite],
    summary="Retract a fact (duplicate, false report)",
    responses=answers(ChangedFact, 404, 409, 422, status=201),
)
def retract_event(event_id: UUID, retraction: RetractionIn, store: StoreDep) -> JSON:
    outcome = store.retract_fact(str(event_id), retraction)
    return JSON(outcome.fact, status_code=201)


@read_route(router, "", "List facts by occurred time", FactPage)
async def list_events(
    read: Read, axes: AxesDep, filt: FactFilterDep, limit: Limit = 100, cursor: Cursor = None
) -> Response:
    return await read.json(
        lambda conn: page_body(queries.list_facts(conn, axes, filt, cursor, limit)), as_of_us=axes.as_of_us
    )


@read_route(router, "/{event_id}", "One fact as known then, with its revisions", FactWithRevisions, 404)
async def get_event(event_id: UUID, read: Read, axes: AxesDep) -> Response:
    def answer(conn: Connection) -> dict[str, Any]:
        fact = queries.get_fact(conn, str(event_id), axes)
        if fact is None:
            raise NotFoundError(f"no fact {event_id} was known at that time")
        return fact

    return await read.json(answer, as_of_us=axes.as_of_us)
