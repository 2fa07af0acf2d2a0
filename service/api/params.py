"""Query parameters that several operations take, and their parsing: time axes, the fact
filters, pages. Routes take them through service.api.deps."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from service.domain.actors import ACTOR_LIST_PATTERN, MAX_ACTORS_PER_QUERY, actor_list
from service.domain.errors import InvalidInputError
from service.domain.facts import FACT_TYPES, ROLES
from service.domain.instants import (
    INSTANT_PATTERN,
    InstantError,
    format_instant,
    micros_to_text,
    parse_instant,
    to_micros,
)
from service.domain.lists import list_pattern, split_list
from service.readmodels.queries import Axes, FactFilter

ALL_ROLES = sorted({role for required, optional in ROLES.values() for role in required | optional})


def parse_param(name: str, value: str | None, *, end_of_day: bool) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value, date_only_at="end" if end_of_day else "start")
    except InstantError as exc:
        raise InvalidInputError(f"{name}: {exc}", errors=[{"field": name, "message": str(exc)}]) from None


def micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


# Documents the form parse_param takes (the pattern is also parse_instant's gate).
INSTANT_SCHEMA = {"pattern": INSTANT_PATTERN, "examples": ["2020-01-07", "2020-01-07T15:00:00Z"]}
AS_OF = "transaction time: the answer as this service gave it then (date = end of day)"
REPORTED_BY = "publication time: only what had been reported by then (date = end of day)"
AT = "valid time: the situation on this date (date = end of day); default now"


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


def pinned(axes: Axes, now: datetime) -> Axes:
    """The axes with ``as_of`` fixed at the time of the request when none was asked for, so that
    an answer read in several queries is one snapshot."""
    as_of_us = axes.as_of_us if axes.as_of_us is not None else to_micros(now)
    return Axes(as_of_us=as_of_us, reported_by_us=axes.reported_by_us)


AtParam = Annotated[str | None, Query(description=AT, json_schema_extra=INSTANT_SCHEMA)]


def valid_time(at: str | None, now: datetime) -> datetime:
    """The moment whose situation is asked for: ``at``, else the time of the request."""
    return parse_param("at", at, end_of_day=True) or now


Limit = Annotated[int, Query(ge=1, le=1000, description="page size")]
Cursor = Annotated[str | None, Query(max_length=500, description="opaque cursor from next_cursor")]


# --- the filters of a fact list -------------------------------------------------------

# The schemas state what the parsing below enforces (json_schema_extra documents, it does not
# validate: the parsing keeps its own messages).
TypeParam = Annotated[
    str | None,
    Query(
        alias="type",
        description="comma-separated fact types",
        json_schema_extra={"pattern": list_pattern("|".join(FACT_TYPES))},
    ),
]
FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        description="occurred at or after (date = start of day)",
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
ToParam = Annotated[
    str | None,
    Query(
        description="occurred at or before (date = end of day)",
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
ActorParam = Annotated[
    str | None,
    Query(
        description=f"comma-separated actor ids (any role), at most {MAX_ACTORS_PER_QUERY}",
        json_schema_extra={"pattern": ACTOR_LIST_PATTERN},
    ),
]
RoleParam = Annotated[str | None, Query(description="the role the actor plays", json_schema_extra={"enum": ALL_ROLES})]


def _csv(name: str, value: str | None, allowed: Collection[str]) -> list[str]:
    items = split_list(value)
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise InvalidInputError(
            f"{name}: unknown value(s) {', '.join(unknown)}",
            errors=[{"field": name, "message": f"expected one of {', '.join(allowed)}"}],
        )
    return items


def fact_filter(
    type_: str | None, actor: str | None, role: str | None, from_: str | None, to: str | None
) -> FactFilter:
    if role is not None and role not in ALL_ROLES:
        expected = f"expected one of {', '.join(ALL_ROLES)}"
        raise InvalidInputError(f"role: unknown role '{role}'", errors=[{"field": "role", "message": expected}])
    lower = parse_param("from", from_, end_of_day=False)
    upper = parse_param("to", to, end_of_day=True)
    if lower and upper and upper < lower:
        raise InvalidInputError("'to' is before 'from'", errors=[{"field": "to", "message": "before 'from'"}])
    return FactFilter(
        types=_csv("type", type_, FACT_TYPES),
        actors=actor_list("actor", actor),
        role=role,
        from_us=micros(lower),
        to_us=micros(upper),
    )


# Pure parsing: a coroutine, so FastAPI does not send it to the thread pool.
async def listed_facts(
    type_: TypeParam = None,
    actor: ActorParam = None,
    role: RoleParam = None,
    from_: FromParam = None,
    to: ToParam = None,
) -> FactFilter:
    """The filters of a fact list, which exports and counts take too."""
    return fact_filter(type_, actor, role, from_, to)


FactFilterDep = Annotated[FactFilter, Depends(listed_facts)]
