"""The situation of every actor at a date."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.responses import Response

from service.api.deps import ActorParam, AtParam, AxesDep, Read, echo_axes, read_route, valid_time
from service.api.schemas import WorldState
from service.domain.actors import actor_list
from service.domain.instants import format_instant, to_micros
from service.readmodels import queries

router = APIRouter(prefix="/v1/state", tags=["state"])


@read_route(router, "", "Every actor's situation at a date", WorldState)
async def world_state(read: Read, axes: AxesDep, at: AtParam = None, actor: ActorParam = None) -> Response:
    moment = valid_time(at, read.now)
    only = actor_list("actor", actor)

    def answer(conn: Connection) -> dict[str, Any]:
        states = queries.world_state(conn, axes, to_micros(moment), only)
        return {"at": format_instant(moment), **echo_axes(axes, read.now), "actors": states}

    return await read.json(answer, as_of_us=axes.as_of_us, clock_dependent=at is None)
