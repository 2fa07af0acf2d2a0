"""Request dependencies: the container, auth scopes, time axes, read consistency."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import Connection

# Routes take their scope markers from here with the other dependencies; the check itself
# is service.api.auth's, made before the body is read.
from service.api.auth import CanRead as CanRead
from service.api.auth import CanWrite as CanWrite
from service.api.auth import require as require
from service.bootstrap import Container
from service.domain.errors import InvalidInputError, NotCaughtUpError, PositionBeyondLogError
from service.domain.facts import MAX_POSITION
from service.domain.instants import (
    INSTANT_PATTERN,
    InstantError,
    format_instant,
    micros_to_text,
    parse_instant,
    to_micros,
)
from service.readmodels.queries import Axes
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


def parse_param(name: str, value: str | None, *, end_of_day: bool) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value, date_only_at="end" if end_of_day else "start")
    except InstantError as exc:
        raise InvalidInputError(
            f"{name}: {exc}", errors=[{"field": name, "message": str(exc)}]
        ) from None


def micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


# Documents the form parse_param takes (the pattern is also parse_instant's gate).
INSTANT_SCHEMA = {"pattern": INSTANT_PATTERN, "examples": ["2020-01-07", "2020-01-07T15:00:00Z"]}
AS_OF = "transaction time: the answer as this service gave it then (date = end of day)"
REPORTED_BY = "publication time: only what had been reported by then (date = end of day)"


# Pure dependencies are async: FastAPI runs a plain ``def`` dependency in its thread
# pool, and each such hop cost more than parsing the parameter (profiled).
async def axes(
    as_of: Annotated[str | None, Query(description=AS_OF, json_schema_extra=INSTANT_SCHEMA)] = None,
    reported_by: Annotated[str | None, Query(description=REPORTED_BY, json_schema_extra=INSTANT_SCHEMA)] = None,
) -> Axes:
    return Axes(
        as_of_us=micros(parse_param("as_of", as_of, end_of_day=True)),
        reported_by_us=micros(parse_param("reported_by", reported_by, end_of_day=True)),
    )


AxesDep = Annotated[Axes, Depends(axes)]


def echo_axes(axes: Axes, now: datetime) -> dict[str, str | None]:
    """The axes as the answer states them: ``as_of`` defaults to the time of the request."""
    return {
        "as_of": micros_to_text(axes.as_of_us) if axes.as_of_us is not None else format_instant(now),
        "reported_by": micros_to_text(axes.reported_by_us),
    }


async def request_time() -> datetime:
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(request_time)]

Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="opaque cursor from next_cursor")]
