"""The two time axes of a read, and the conditions that pick the rows known under them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_


@dataclass(frozen=True)
class Axes:
    """Transaction time (``as_of``) and publication time (``reported_by``); None = now / no filter."""

    as_of_us: int | None = None
    reported_by_us: int | None = None


def visible(table: Any, axes: Axes) -> list[Any]:
    """Conditions that pick, per fact, the one version known under the axes."""
    recorded = held_at(table.c.recorded_us, table.c.superseded_us, axes.as_of_us)
    reported = held_at(table.c.reported_from_us, table.c.reported_until_us, axes.reported_by_us)
    return recorded + reported


def held_at(since: Any, until: Any, at_us: int | None) -> list[Any]:
    """A version held over [since, until) on one axis: at ``at_us``, or now when it is None."""
    if at_us is None:
        return [until.is_(None)]
    return [since <= at_us, or_(until.is_(None), until > at_us)]
