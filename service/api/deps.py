"""Request dependencies: the container, auth scopes, read consistency, the parameters routes share."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

# Routes take everything they depend on from here. The scope markers' check is
# service.api.auth's, made before the body is read; the parameters are service.api.params'.
from service.api.auth import CanRead as CanRead
from service.api.auth import CanWrite as CanWrite
from service.api.auth import require as require
from service.api.params import ActorParam as ActorParam
from service.api.params import AtParam as AtParam
from service.api.params import AxesDep as AxesDep
from service.api.params import Cursor as Cursor
from service.api.params import FactFilterDep as FactFilterDep
from service.api.params import FromParam as FromParam
from service.api.params import Limit as Limit
from service.api.params import ToParam as ToParam
from service.api.params import TypeParam as TypeParam
from service.api.params import echo_axes as echo_axes
from service.api.params import fact_filter as fact_filter
from service.api.params import parse_param as parse_param
from service.bootstrap import Container
from service.domain.errors import InvalidInputError, NotCaughtUpError, PositionBeyondLogError
from service.domain.facts import MAX_POSITION
from service.store.group_commit import GroupCommitter


# Dependencies that never block are coroutines: a plain function would cost every request
# a hop to the thread pool and back.
async def get_container(request: Request) -> Container:
    return request.app.state.container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_appends(request: Request) -> GroupCommitter:
    return request.app.state.appends


AppendsDep = Annotated[GroupCommitter, Depends(get_appends)]


# --- reading ---------------------------------------------------------------------------


def wait_for_min_position(
    container: ContainerDep,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_POSITION,
            description=(
                "wait (bounded) until the read models include this position, one an append "
                "returned; a position beyond the log's last one is refused"
            ),
        ),
    ] = None,
) -> None:
    if min_position is None:
        return
    try:
        reached = container.wait_for_position(min_position, container.settings.read_wait)
    except PositionBeyondLogError as exc:
        message = f"no append has reached position {min_position}; the log ends at {exc.head}"
        raise InvalidInputError(
            f"min_position: {message}", errors=[{"field": "min_position", "message": message}]
        ) from None
    if not reached:
        raise NotCaughtUpError(f"the read models have not reached position {min_position} yet; retry")


CaughtUp = Depends(wait_for_min_position)


def read_connection(container: ContainerDep, _: Annotated[None, CaughtUp]) -> Iterator[Connection]:
    with container.reading() as conn:
        yield conn


ReadConn = Annotated[Connection, Depends(read_connection)]


async def request_time() -> datetime:
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(request_time)]

