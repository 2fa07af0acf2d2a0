"""Actors: the list, profiles, per-actor timeline and state at a date."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import Connection

from service.api.deps import (
    AtParam,
    AxesDep,
    CanRead,
    CanWrite,
    Cursor,
    FromParam,
    Limit,
    Now,
    ReadConn,
    StoreDep,
    ToParam,
    TypeParam,
    echo_axes,
    fact_filter,
    read_route,
    valid_time,
)
from service.api.responses import JSON, page_answer
from service.api.schemas import ActorPage, ActorSaved, ActorState, TimelinePage, answers
from service.domain.actors import ActorProfileIn, profile_record
from service.domain.errors import InvalidInputError, NotFoundError
from service.domain.facts import SLUG_PATTERN
from service.domain.instants import format_instant, to_micros
from service.readmodels import queries

router = APIRouter(prefix="/v1/actors", tags=["actors"])

ActorId = Annotated[str, Path(pattern=SLUG_PATTERN, max_length=80, description="actor slug, e.g. nato")]


def known_actor(conn: Connection, actor_id: str) -> None:
    if not queries.actor_exists(conn, actor_id):
        raise NotFoundError(f"no fact names actor '{actor_id}' and nobody registered it")


@router.get("", dependencies=[CanRead], summary="Actors with their fact counts", responses=answers(ActorPage))
def list_actors(conn: ReadConn, limit: Limit = 100, cursor: Cursor = None) -> JSON:
    page = queries.list_actors(conn, cursor, limit)
    return page_answer(page)


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


@read_route(
    router, "/{actor_id}/timeline", "The facts in which the actor plays any role, by occurred time", TimelinePage, 404
)
def actor_timeline(
    actor_id: ActorId,
    conn: ReadConn,
    axes: AxesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    type_: TypeParam = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> JSON:
    filt = fact_filter(type_, None, None, from_, to)
    known_actor(conn, actor_id)
    page = queries.timeline(conn, actor_id, axes, filt, cursor, limit)
    return page_answer(page)


@read_route(router, "/{actor_id}/state", "The actor's situation at a date", ActorState, 404)
def actor_state(actor_id: ActorId, conn: ReadConn, axes: AxesDep, now: Now, at: AtParam = None) -> JSON:
    moment = valid_time(at, now)
    known_actor(conn, actor_id)
    state = queries.actor_state(conn, actor_id, axes, to_micros(moment))
    return JSON({"actor": actor_id, "at": format_instant(moment), **echo_axes(axes, now), **state})
