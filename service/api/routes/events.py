"""Facts: record one or a batch, list them, read one with its revisions."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query

from service.api.deps import (
    INSTANT_SCHEMA,
    AppendsDep,
    AxesDep,
    CanRead,
    CanWrite,
    ContainerDep,
    Cursor,
    Limit,
    ReadConn,
    micros,
    parse_param,
)
from service.api.responses import JSON
from service.api.schemas import (
    MAX_BATCH_FACTS,
    PROBLEM,
    Batch,
    BatchOut,
    ChangedFact,
    FactPage,
    FactWithRevisions,
    StoredFact,
)
from service.domain.actors import ACTOR_LIST_PATTERN, MAX_ACTORS_PER_QUERY, actor_list
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.errors import InvalidInputError, NotFoundError
from service.domain.facts import FACT_TYPES, ROLES, FactIn
from service.domain.lists import list_pattern, split_list
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
ALL_ROLES = sorted({role for required, optional in ROLES.values() for role in required | optional})


@router.post(
    "",
    status_code=201,
    dependencies=[CanWrite],
    summary="Record one fact",
    responses={
        200: {"model": StoredFact, "description": "already recorded with this body; nothing new"},
        201: {"model": StoredFact, "description": "recorded"},
        409: PROBLEM, 413: PROBLEM, 422: PROBLEM,
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
    responses={201: {"model": BatchOut}, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
)
def record_batch(batch: Batch, container: ContainerDep) -> JSON:
    outcomes = container.store.record_facts(batch.events)
    return JSON({"items": [o.fact for o in outcomes]}, status_code=201)


@router.post(
    "/{event_id}/corrections",
    status_code=201,
    dependencies=[CanWrite],
    summary="Correct the record of a fact",
    responses={201: {"model": ChangedFact}, 404: PROBLEM, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
)
def correct_event(event_id: UUID, correction: CorrectionIn, container: ContainerDep) -> JSON:
    outcome = container.store.correct_fact(str(event_id), correction)
    return JSON(outcome.fact, status_code=201)


@router.post(
    "/{event_id}/retraction",
    status_code=201,
    dependencies=[CanWrite],
    summary="Retract a fact (duplicate, false report)",
    responses={201: {"model": ChangedFact}, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
)
def retract_event(event_id: UUID, retraction: RetractionIn, container: ContainerDep) -> JSON:
    outcome = container.store.retract_fact(str(event_id), retraction)
    return JSON(outcome.fact, status_code=201)


def _csv(name: str, value: str | None, allowed: Any = None) -> list[str]:
    items = split_list(value)
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise InvalidInputError(
                f"{name}: unknown value(s) {', '.join(unknown)}",
                errors=[{"field": name, "message": f"expected one of {', '.join(allowed)}"}],
            )
    return items


def fact_filter(
    type_: str | None, actor: str | None, role: str | None, from_: str | None, to: str | None
) -> queries.FactFilter:
    if role is not None and role not in ALL_ROLES:
        raise InvalidInputError(
            f"role: unknown role '{role}'", errors=[{"field": "role", "message": f"expected one of {', '.join(ALL_ROLES)}"}]
        )
    lower = parse_param("from", from_, end_of_day=False)
    upper = parse_param("to", to, end_of_day=True)
    if lower and upper and upper < lower:
        raise InvalidInputError("'to' is before 'from'", errors=[{"field": "to", "message": "before 'from'"}])
    return queries.FactFilter(
        types=_csv("type", type_, FACT_TYPES),
        actors=actor_list("actor", actor),
        role=role,
        from_us=micros(lower),
        to_us=micros(upper),
    )


# The schemas state what the parsing below enforces (json_schema_extra documents, it does not
# validate: the parsing keeps its own messages).
TypeParam = Annotated[str | None, Query(
    alias="type", description="comma-separated fact types",
    json_schema_extra={"pattern": list_pattern("|".join(FACT_TYPES))},
)]
FromParam = Annotated[str | None, Query(
    alias="from", description="occurred at or after (date = start of day)", json_schema_extra=INSTANT_SCHEMA,
)]
ToParam = Annotated[str | None, Query(description="occurred at or before (date = end of day)", json_schema_extra=INSTANT_SCHEMA)]
ActorParam = Annotated[str | None, Query(
    description=f"comma-separated actor ids (any role), at most {MAX_ACTORS_PER_QUERY}",
    json_schema_extra={"pattern": ACTOR_LIST_PATTERN},
)]
RoleParam = Annotated[str | None, Query(description="the role the actor plays", json_schema_extra={"enum": ALL_ROLES})]


# Pure parsing: a coroutine, so FastAPI does not send it to the thread pool.
async def listed_facts(
    type_: TypeParam = None,
    actor: ActorParam = None,
    role: RoleParam = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> queries.FactFilter:
    """The filters of a fact list, which exports and counts take too."""
    return fact_filter(type_, actor, role, from_, to)


FactFilterDep = Annotated[queries.FactFilter, Depends(listed_facts)]


@router.get(
    "",
    dependencies=[CanRead],
    summary="List facts by occurred time",
    responses={200: {"model": FactPage}, 422: PROBLEM, 503: PROBLEM},
)
def list_events(
    conn: ReadConn,
    axes: AxesDep,
    filt: FactFilterDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> JSON:
    page = queries.list_facts(conn, axes, filt, cursor, limit)
    return JSON({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/{event_id}",
    dependencies=[CanRead],
    summary="One fact as known then, with its revisions",
    responses={200: {"model": FactWithRevisions}, 404: PROBLEM, 422: PROBLEM, 503: PROBLEM},
)
def get_event(event_id: UUID, conn: ReadConn, axes: AxesDep) -> JSON:
    fact = queries.get_fact(conn, str(event_id), axes)
    if fact is None:
        raise NotFoundError(f"no fact {event_id} was known at that time")
    return JSON(fact)
