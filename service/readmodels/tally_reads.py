"""Counts per day read from the maintained tallies (``service.readmodels.tallies``), not a scan.

They answer the whole store or one actor, any types, now or ``as_of`` any moment. Days
wholly inside from/to come from the tallies; a from/to inside a day leaves a partial day at
that edge, which the scan counts over just that day, so the answer stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from service.readmodels.tables import day_count_changes, day_count_checkpoints, day_counts
from service.readmodels.tallies import DAY_US, DAYS_BEFORE_EPOCH, WHOLE_STORE, day_number

if TYPE_CHECKING:
    from service.readmodels.queries import Axes, FactFilter

DailyCounts = list[tuple[date, str, int, int]]
Scan = Callable[[Connection, "Axes", "FactFilter"], DailyCounts]
Days = tuple[int | None, int | None]  # first and last day, inclusive; None: unbounded


def answers(axes: Axes, filt: FactFilter) -> bool:
    """Whether the tallies hold the answer. They keep no roles, nor publication time; two or
    more actors would count a fact naming both twice."""
    return axes.reported_by_us is None and filt.role is None and len(filt.actors) <= 1


def daily_counts(conn: Connection, axes: Axes, filt: FactFilter, scan: Scan) -> DailyCounts:
    """(day, type, facts, fatalities) for every day and type with at least one fact."""
    key = filt.actors[0] if filt.actors else WHOLE_STORE
    whole, edges = split_window(filt.from_us, filt.to_us)
    found: DailyCounts = []
    if whole is not None:
        if axes.as_of_us is None:
            counts = _current(conn, key, whole, filt.types)
        else:
            counts = _as_of(conn, key, whole, filt.types, axes.as_of_us)
        found += [(_date(day), kind, n, dead) for (day, kind), (n, dead) in counts.items() if n > 0]
    for lower, upper in edges:
        found += scan(conn, axes, replace(filt, from_us=lower, to_us=upper))
    return found


@lru_cache(maxsize=4096)
def _date(day: int) -> date:
    # A whole-store answer names every day of the store once per type.
    return date.fromordinal(day + 1)


def _day_start(day: int) -> int:
    return day * DAY_US - DAYS_BEFORE_EPOCH * DAY_US


def split_window(from_us: int | None, to_us: int | None) -> tuple[Days | None, list[tuple[int, int]]]:
    """The whole days of [from_us, to_us] (None if there are none) and the partial days at its edges."""
    if from_us is not None and to_us is not None and from_us > to_us:
        return None, []
    first = last = None
    edges = []
    if from_us is not None:
        first = day_number(from_us)
        if from_us != _day_start(first):
            first += 1
            edges.append((from_us, _day_start(first) - 1 if to_us is None else min(to_us, _day_start(first) - 1)))
    if to_us is not None:
        last = day_number(to_us)
        if to_us + 1 != _day_start(last + 1):
            lower = _day_start(last) if from_us is None else max(from_us, _day_start(last))
            if not edges or edges[0][1] < lower:  # not the partial day already counted
                edges.append((lower, to_us))
            last -= 1
    if first is not None and last is not None and first > last:
        return None, edges
    return (first, last), edges


def _filters(table: Any, key: str, days: Days, types: Sequence[str]) -> list[Any]:
    conditions = [table.c.actor_id == key]
    if days[0] is not None:
        conditions.append(table.c.day >= days[0])
    if days[1] is not None:
        conditions.append(table.c.day <= days[1])
    if types:
        conditions.append(table.c.type.in_(types))
    return conditions


Counts = dict[tuple[int, str], tuple[int, int]]


def _current(conn: Connection, key: str, days: Days, types: Sequence[str]) -> Counts:
    dc = day_counts
    rows = conn.execute(select(dc.c.day, dc.c.type, dc.c.facts, dc.c.fatalities).where(*_filters(dc, key, days, types)))
    return {(day, kind): (n, dead) for day, kind, n, dead in rows}


def _as_of(conn: Connection, key: str, days: Days, types: Sequence[str], as_of_us: int) -> Counts:
    """The counts at the nearest known point before or after ``as_of``, moved by the changes between.

    Before the first change the counts are zero; from the last one on they are the counts now;
    between, the whole store has checkpoints (``tallies.CHECKPOINT_EVERY``); an actor has none,
    so its changes are read from the nearer end.
    """
    ch, cp = day_count_changes, day_count_checkpoints
    span = select(ch.c.recorded_us).where(ch.c.actor_id == key).limit(1)
    first = conn.execute(span.order_by(ch.c.recorded_us)).scalar()
    last = conn.execute(span.order_by(ch.c.recorded_us.desc())).scalar()
    if first is None or last is None or as_of_us >= last:
        return _current(conn, key, days, types)
    if as_of_us < first:
        return {}
    taken = select(cp.c.taken_us).where(cp.c.actor_id == key).limit(1)
    below = conn.execute(taken.where(cp.c.taken_us <= as_of_us).order_by(cp.c.taken_us.desc())).scalar()
    above = conn.execute(taken.where(cp.c.taken_us > as_of_us).order_by(cp.c.taken_us)).scalar()
    lower = first - 1 if below is None else below
    upper = last if above is None else above
    summed = (
        select(ch.c.day, ch.c.type, func.sum(ch.c.facts), func.sum(ch.c.fatalities))
        .where(*_filters(ch, key, days, types))
        .group_by(ch.c.day, ch.c.type)
    )
    if as_of_us - lower <= upper - as_of_us:
        counts = {} if below is None else _checkpoint(conn, key, below, days, types)
        moves = conn.execute(summed.where(ch.c.recorded_us > lower, ch.c.recorded_us <= as_of_us))
        sign = 1
    else:
        counts = _current(conn, key, days, types) if above is None else _checkpoint(conn, key, above, days, types)
        moves = conn.execute(summed.where(ch.c.recorded_us > as_of_us, ch.c.recorded_us <= upper))
        sign = -1
    for day, kind, n, dead in moves:
        now_n, now_dead = counts.get((day, kind), (0, 0))
        counts[(day, kind)] = (now_n + sign * int(n), now_dead + sign * int(dead))
    return counts


def _checkpoint(conn: Connection, key: str, taken_us: int, days: Days, types: Sequence[str]) -> Counts:
    cp = day_count_checkpoints
    query = select(cp.c.day, cp.c.type, cp.c.facts, cp.c.fatalities).where(
        *_filters(cp, key, days, types), cp.c.taken_us == taken_us
    )
    return {(day, kind): (n, dead) for day, kind, n, dead in conn.execute(query)}
