"""The situation of every actor at a date."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ActorParam, AtParam, AxesDep, Now, ReadConn, echo_axes, read_route, valid_time
from service.api.responses import JSON
from service.api.schemas import WorldState
from service.domain.actors import actor_list
from service.domain.instants import format_instant, to_micros
from service.readmodels import queries

router = APIRouter(prefix="/v1/state", tags=["state"])


@read_route(router, "", "Every actor's situation at a date", WorldState)
def world_state(conn: ReadConn, axes: AxesDep, now: Now, at: AtParam = None, actor: ActorParam = None) -> JSON:
    moment = valid_time(at, now)
    only = actor_list("actor", actor)
    states = queries.world_state(conn, axes, to_micros(moment), only)
    return JSON({"at": format_instant(moment), **echo_axes(axes, now), "actors": states})
