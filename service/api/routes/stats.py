"""Counts of facts and fatalities per day, week or month."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import AxesDep, CanRead, FactFilterDep, Now, ReadConn, echo_axes
from service.api.responses import JSON
from service.api.schemas import READ_PROBLEMS, Stats, answers
from service.domain.errors import InvalidInputError
from service.domain.instants import from_micros, micros_to_text
from service.domain.stats import Granularity, TooManyBucketsError, bucket_counts
from service.readmodels import queries

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get(
    "",
    dependencies=[CanRead],
    summary="Facts and fatalities per day, ISO week or month (UTC)",
    description=(
        "Counts the facts `GET /v1/events` would list, by occurred time. Buckets are contiguous, "
        "empty ones included, from `from` (else the first fact) to `to` (else the last); `end` is "
        "exclusive. `fatalities` adds up the strikes' known fatalities."
    ),
    responses=answers(Stats, *READ_PROBLEMS),
)
def stats(
    conn: ReadConn,
    axes: AxesDep,
    now: Now,
    filt: FactFilterDep,
    by: Annotated[Granularity, Query(description="bucket size")] = "day",
) -> JSON:
    first = from_micros(filt.from_us).date() if filt.from_us is not None else None
    last = from_micros(filt.to_us).date() if filt.to_us is not None else None
    try:
        buckets, total = bucket_counts(queries.daily_counts(conn, axes, filt), by, first, last)
    except TooManyBucketsError as exc:
        raise InvalidInputError(str(exc), errors=[{"field": "by", "message": str(exc)}]) from None
    return JSON(
        {
            "by": by,
            "from": micros_to_text(filt.from_us),
            "to": micros_to_text(filt.to_us),
            **echo_axes(axes, now),
            "buckets": buckets,
            "total": total,
        }
    )
