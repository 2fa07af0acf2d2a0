"""Actors: the list, profiles, per-actor timeline and state at a date."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import Connection
from starlette.responses import Response

from service.api.deps import (
    AtParam,
    AxesDep,
    CanRead,
    CanWrite,
    Cursor,
    FromParam,
    Limit,
    Read,
    StoreDep,
    ToParam,
    TypeParam,
    echo_axes,
    fact_filter,
    read_route,
    valid_time,
)
from service.api.responses import JSON, page_body
from service.api.schemas import ActorPage, ActorSaved, ActorState, TimelinePage, answers, cached_answers
from service.domain.actors import ActorProfileIn, profile_record
from service.domain.errors import InvalidInputError, NotFoundError
from service.domain.facts import SLUG_PATTERN
from service.domain.instants import format_instant, to_micros
from service.readmodels import queries

router = APIRouter(prefix="/v1/actors", tags=["actors"])

ActorId = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=80, description="actor slug, e.g. nato")]


def _unknown(actor_id: str) -> NotFoundError:
    return NotFoundError(f"no fact names actor '{actor_id}' and nobody registered it")


@router.get(
    "", dependencies=[CanRead], summary="Actors with their fact counts", responses=cached_answers({"model": ActorPage})
)
async def list_actors(read: Read, limit: Limit = 100, cursor: Cursor = None) -> Response:
    return await read.json(lambda conn: page_body(queries.list_actors(conn, cursor, limit)), as_of_us=None)


@router.put(
    "/{actor_id}",
    dependencies=[CanWrite],
    summary="Register or change an actor's profile",
    responses=answers(ActorSaved, 422),
)
def put_actor(actor_id: ActorId, profile: ActorProfileIn, store: StoreDep) -> JSON:
    try:
        record = profile_record(actor_id, profile)
    except ValueError as exc:
        raise InvalidInputError(str(exc), errors=[{"field": "parent", "message": str(exc)}]) from None
    position = store.register_actor(record)
    return JSON({**record, "position": position})


# An actor a visible fact names is known (the projection registers every actor a fact names,
# in the same transaction), so only an empty answer needs the second query that tells an
# actor without facts from one nobody has heard of.


@read_route(
    router, "/{actor_id}/timeline", "The facts in which the actor plays any role, by occurred time", TimelinePage, 404
)
async def actor_timeline(
    actor_id: ActorId,
    read: Read,
    axes: AxesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    type_: TypeParam = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> Response:
    filt = fact_filter(type_, None, None, from_, to)

    def answer(conn: Connection) -> dict[str, Any]:
        page = queries.timeline(conn, actor_id, axes, filt, cursor, limit)
        if not page.items and not queries.actor_exists(conn, actor_id):
            raise _unknown(actor_id)
        return page_body(page)

    return await read.json(answer, as_of_us=axes.as_of_us)


@read_route(router, "/{actor_id}/state", "The actor's situation at a date", ActorState, 404)
async def actor_state(actor_id: ActorId, read: Read, axes: AxesDep, at: AtParam = None) -> Response:
    moment = valid_time(at, read.now)

    def answer(conn: Connection) -> dict[str, Any]:
        state = queries.actor_state(conn, actor_id, axes, to_micros(moment))
        if not state["event_count"] and not queries.actor_exists(conn, actor_id):
            raise _unknown(actor_id)
        return {"actor": actor_id, "at": format_instant(moment), **echo_axes(axes, read.now), **state}

    return await read.json(answer, as_of_us=axes.as_of_us, clock_dependent=at is None)
