"""Counts of facts and fatalities per day, week or month."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import Connection
from starlette.responses import Response

from service.api.deps import AxesDep, CanRead, FactFilterDep, Read, echo_axes
from service.api.schemas import READ_PROBLEMS, Stats, cached_answers
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
    responses=cached_answers({"model": Stats}, *READ_PROBLEMS),
)
async def stats(
    read: Read,
    axes: AxesDep,
    filt: FactFilterDep,
    by: Annotated[Granularity, Query(description="bucket size")] = "day",
) -> Response:
    first = from_micros(filt.from_us).date() if filt.from_us is not None else None
    last = from_micros(filt.to_us).date() if filt.to_us is not None else None

    def answer(conn: Connection) -> dict[str, Any]:
        try:
            buckets, total = bucket_counts(queries.daily_counts(conn, axes, filt), by, first, last)
        except TooManyBucketsError as exc:
            raise InvalidInputError(str(exc), errors=[{"field": "by", "message": str(exc)}]) from None
        return {
            "by": by,
            "from": micros_to_text(filt.from_us),
            "to": micros_to_text(filt.to_us),
            **echo_axes(axes, read.now),
            "buckets": buckets,
            "total": total,
        }

    return await read.json(answer, as_of_us=axes.as_of_us)
