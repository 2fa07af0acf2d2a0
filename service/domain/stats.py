"""Counts of facts and fatalities per day, ISO week or calendar month (UTC).

Pure: the read side counts per day and type; this rolls those days up into
contiguous buckets, empty ones included, so that a chart needs no gap logic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from service.domain.instants import format_instant

Granularity = Literal["day", "week", "month"]
# A day-by-day answer over 27 years; more is a request for a coarser `by`.
MAX_BUCKETS = 10_000


class TooManyBucketsError(ValueError):
    def __init__(self, count: int):
        super().__init__(
            f"that would be {count} buckets (the limit is {MAX_BUCKETS}): use a coarser 'by' or a narrower from/to"
        )


def bucket_start(day: date, by: Granularity) -> date:
    if by == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if by == "month":
        return day.replace(day=1)
    return day


def next_bucket(start: date, by: Granularity) -> date:
    if by == "day":
        return start + timedelta(days=1)
    if by == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return date(start.year + 1, 1, 1)
    return date(start.year, start.month + 1, 1)


@dataclass
class Tally:
    count: int = 0
    fatalities: int = 0
    types: dict[str, int] = field(default_factory=dict)

    def add(self, fact_type: str, count: int, fatalities: int) -> None:
        self.count += count
        self.fatalities += fatalities
        self.types[fact_type] = self.types.get(fact_type, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "fatalities": self.fatalities, "types": dict(sorted(self.types.items()))}


def _midnight(day: date) -> str:
    return format_instant(datetime.combine(day, time.min, tzinfo=UTC))


def bucket_counts(
    daily: Iterable[tuple[date, str, int, int]],
    by: Granularity,
    first: date | None = None,
    last: date | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Buckets from ``first`` (else the earliest day counted) to ``last`` (else the latest), and the total.

    ``daily`` holds (day, fact type, facts, fatalities). Bucket ``end`` is exclusive.
    """
    tallies: dict[date, Tally] = {}
    total = Tally()
    for day, fact_type, count, fatalities in daily:
        tallies.setdefault(bucket_start(day, by), Tally()).add(fact_type, count, fatalities)
        total.add(fact_type, count, fatalities)
    lower = bucket_start(first, by) if first else min(tallies, default=None)
    upper = bucket_start(last, by) if last else max(tallies, default=None)
    if lower is None or upper is None or upper < lower:
        return [], total.as_dict()
    span = {"day": (upper - lower).days, "week": (upper - lower).days // 7}.get(
        by, (upper.year - lower.year) * 12 + upper.month - lower.month
    ) + 1
    if span > MAX_BUCKETS:
        raise TooManyBucketsError(span)
    buckets = []
    start = lower
    while True:
        try:
            end: date | None = next_bucket(start, by)
        except (OverflowError, ValueError):
            end = None  # the bucket that holds 9999-12-31 has no representable end
        row = {"start": _midnight(start), "end": _midnight(end) if end else None}
        buckets.append({**row, **tallies.get(start, Tally()).as_dict()})
        if end is None or end > upper:
            return buckets, total.as_dict()
        start = end
