"""Read-side queries: facts, timelines, actors, state at a date, the changes feed.

Every query selects, per fact, the one version known under the time axes
(``as_of`` transaction time, ``reported_by`` publication time) with indexed
conditions, and orders by (occurred time, first position).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, select, tuple_

from service.domain.facts import stored_view
from service.domain.instants import micros_to_text
from service.domain.replay import fold_inputs, fold_states
from service.domain.revisions import KIND_CORRECTED, STATUS_ACTIVE, known_at
from service.readmodels import tally_reads
from service.readmodels.checkpoint_reads import checkpointed_state
from service.readmodels.paging import Page, decode_cursor, fact_order_key, page_of
from service.readmodels.projection import change_from_row
from service.readmodels.tables import actor_totals, actors, fact_actors, fact_revisions, fact_versions
from service.readmodels.tallies import DAY_US, DAYS_BEFORE_EPOCH, FATAL_TYPE
from service.readmodels.visibility import Axes as Axes  # also read from here by the API
from service.readmodels.visibility import visible as _visible


@dataclass(frozen=True)
class FactFilter:
    types: Sequence[str] = ()
    actors: Sequence[str] = ()
    role: str | None = None
    from_us: int | None = None
    to_us: int | None = None


def _window(table: Any, filt: FactFilter) -> list[Any]:
    conditions = []
    if filt.types:
        conditions.append(table.c.type.in_(filt.types))
    if filt.from_us is not None:
        conditions.append(table.c.occurred_us >= filt.from_us)
    if filt.to_us is not None:
        conditions.append(table.c.occurred_us <= filt.to_us)
    return conditions


def fact_view(row: Any) -> dict[str, Any]:
    """A fact as the API shows it, from a fact_versions or fact_revisions row."""
    return stored_view(
        row.body,
        recorded_at=micros_to_text(row.fact_recorded_us) or "",
        position=row.first_position,
        revision=row.revision,
        status=row.status,
    )


def _fact_conditions(
    axes: Axes,
    filt: FactFilter,
    *,
    include_retracted: bool = False,
    after: Sequence[int] | None = None,
    first: int | None = None,
) -> list[Any]:
    """Which facts a list, an export or a count takes: the axes, the filters, active ones only.

    ``after`` is a page's (occurred time, first position) cursor; ``first`` says that only
    that many facts from there on are wanted, which lets an actor filter stop early.
    """
    fr = fact_versions
    conditions = [*_visible(fr, axes), *_window(fr, filt)]
    if not include_retracted:
        conditions.append(fr.c.status == STATUS_ACTIVE)
    if after is not None:
        conditions.append(tuple_(fr.c.occurred_us, fr.c.first_position) > tuple_(*after))
    if filt.actors:
        conditions.append(tuple_(fr.c.event_id, fr.c.version).in_(_named(axes, filt, include_retracted, after, first)))
    elif filt.role:
        fa = fact_actors
        conditions.append(
            exists().where(
                fa.c.event_id == fr.c.event_id, fa.c.version == fr.c.version, fa.c.roles.like(f"%,{filt.role},%")
            )
        )
    return conditions


def _named(
    axes: Axes, filt: FactFilter, include_retracted: bool, after: Sequence[int] | None, first: int | None
) -> Any:
    """The fact versions that name the filter's actors, found through the actors' own index.

    Filtering facts with a correlated EXISTS walked every fact in time order: 160 ms for
    an actor in 161 of 100,000 facts. The actors' rows carry the same time columns, so
    the search starts there; with ``first``, only the first rows in list order are taken
    (a fact names each actor once, so ``first`` facts lie within ``first`` rows per actor).
    """
    fa = fact_actors
    named = select(fa.c.event_id, fa.c.version).where(
        fa.c.actor_id.in_(filt.actors), *_visible(fa, axes), *_window(fa, filt)
    )
    if not include_retracted:
        named = named.where(fa.c.status == STATUS_ACTIVE)
    if filt.role:
        named = named.where(fa.c.roles.like(f"%,{filt.role},%"))
    if after is not None:
        named = named.where(tuple_(fa.c.occurred_us, fa.c.first_position) > tuple_(*after))
    if first is not None:
        named = named.order_by(fa.c.occurred_us, fa.c.first_position).limit(first * len(filt.actors))
    return named


def list_facts(
    conn: Connection,
    axes: Axes,
    filt: FactFilter,
    cursor: str | None,
    limit: int,
    *,
    include_retracted: bool = False,
    item: Callable[[Any], Any] = fact_view,
) -> Page:
    """A page of facts by (occurred time, first position); ``item`` shapes each row."""
    fr = fact_versions
    after = decode_cursor(cursor, (int, int))
    conditions = _fact_conditions(axes, filt, include_retracted=include_retracted, after=after, first=limit + 1)
    rows = conn.execute(
        select(fr).where(*conditions).order_by(fr.c.occurred_us, fr.c.first_position).limit(limit + 1)
    ).all()
    return page_of(rows, limit, item, fact_order_key)


def all_facts(
    connect: Callable[[], AbstractContextManager[Connection]],
    axes: Axes,
    filt: FactFilter,
    *,
    include_retracted: bool = False,
    item: Callable[[Any], Any] = fact_view,
    page_size: int = 1000,
) -> Iterator[list[Any]]:
    """Every fact the filters select, a page at a time, each page on a connection of its own.

    Connections are not held between pages, so a long export never keeps other
    queries waiting; pass a pinned ``as_of`` for one consistent snapshot.
    """
    cursor = None
    while True:
        with connect() as conn:
            page = list_facts(conn, axes, filt, cursor, page_size, include_retracted=include_retracted, item=item)
        yield page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def daily_counts(conn: Connection, axes: Axes, filt: FactFilter) -> list[tuple[date, str, int, int]]:
    """(day, type, facts, fatalities) for every day and type with at least one fact.

    From the maintained tallies where they hold the answer (0.35 s -> a few ms at 100,000
    facts); several actors, a role or ``reported_by`` are counted by the scan.
    """
    if tally_reads.answers(axes, filt):
        return tally_reads.daily_counts(conn, axes, filt, scan_daily_counts)
    return scan_daily_counts(conn, axes, filt)


def scan_daily_counts(conn: Connection, axes: Axes, filt: FactFilter) -> list[tuple[date, str, int, int]]:
    """``daily_counts`` by reading every fact the filters select: the reference for the tallies."""
    fr = fact_versions
    # Days are counted from 0001-01-01 so that integer division floors alike on both backends
    # (PostgreSQL and SQLite both truncate towards zero, which is wrong before 1970).
    day = (fr.c.occurred_us + DAYS_BEFORE_EPOCH * DAY_US) // DAY_US
    # Only strikes have fatalities: reading the JSON body of the other facts for nothing cost
    # half the query on PostgreSQL (100,000 facts: 441 -> 207 ms).
    strike_fatalities = case((fr.c.type == FATAL_TYPE, fr.c.body["fatalities"].as_integer()))
    fatalities = func.coalesce(func.sum(strike_fatalities), 0)
    rows = conn.execute(
        select(day.label("day"), fr.c.type, func.count().label("facts"), fatalities.label("fatalities"))
        .where(*_fact_conditions(axes, filt))
        .group_by(day, fr.c.type)
    ).all()
    return [(date.fromordinal(row.day + 1), row.type, row.facts, row.fatalities) for row in rows]


def timeline(conn: Connection, actor_id: str, axes: Axes, filt: FactFilter, cursor: str | None, limit: int) -> Page:
    fa, fr = fact_actors, fact_versions
    conditions = [fa.c.actor_id == actor_id, *_visible(fa, axes), fa.c.status == STATUS_ACTIVE, *_window(fa, filt)]
    after = decode_cursor(cursor, (int, int))
    if after is not None:
        conditions.append(tuple_(fa.c.occurred_us, fa.c.first_position) > tuple_(*after))
    rows = conn.execute(
        select(fr, fa.c.roles)
        .join(fa, and_(fa.c.event_id == fr.c.event_id, fa.c.version == fr.c.version))
        .where(*conditions)
        .order_by(fa.c.occurred_us, fa.c.first_position)
        .limit(limit + 1)
    ).all()

    def item(row: Any) -> dict[str, Any]:
        roles = row.roles.strip(",").split(",")
        return {**fact_view(row), "role": roles[0], "roles": roles}

    return page_of(rows, limit, item, fact_order_key)


def actor_exists(conn: Connection, actor_id: str) -> bool:
    return conn.execute(select(actors.c.id).where(actors.c.id == actor_id)).first() is not None


def list_actors(conn: Connection, cursor: str | None, limit: int, *, scan: bool = False) -> Page:
    """Every actor with its active facts now, from the maintained totals (``scan``: counted
    from the actors' rows, the reference for the totals)."""
    at, fa = actor_totals, fact_actors
    counts = (
        select(
            fa.c.actor_id,
            func.count().label("event_count"),
            func.min(fa.c.occurred_us).label("first_us"),
            func.max(fa.c.occurred_us).label("last_us"),
        )
        .where(*_visible(fa, Axes()), fa.c.status == STATUS_ACTIVE)
        .group_by(fa.c.actor_id)
        .subquery()
        if scan
        else select(
            at.c.actor_id, at.c.facts.label("event_count"), at.c.first_us.label("first_us"), at.c.last_us
        ).subquery()
    )
    after = decode_cursor(cursor, (str,))
    query = (
        select(
            actors,
            func.coalesce(counts.c.event_count, 0).label("event_count"),
            counts.c.first_us,
            counts.c.last_us,
        )
        .select_from(actors.outerjoin(counts, counts.c.actor_id == actors.c.id))
        .order_by(actors.c.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(actors.c.id > after[0])
    return page_of(conn.execute(query).all(), limit, _actor_item, lambda row: [row.id])


def _actor_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "parent": row.parent,
        "aliases": row.aliases,
        "event_count": row.event_count,
        "first_occurred_at": micros_to_text(row.first_us),
        "last_occurred_at": micros_to_text(row.last_us),
    }


def _state_bodies(conn: Connection, axes: Axes, at_us: int) -> list[dict[str, Any]]:
    fr = fact_versions
    query = (
        select(fr.c.body)
        .where(*_visible(fr, axes), fr.c.status == STATUS_ACTIVE, fr.c.occurred_us <= at_us)
        .order_by(fr.c.occurred_us, fr.c.first_position)
    )
    return [row.body for row in conn.execute(query)]


def actor_state(conn: Connection, actor_id: str, axes: Axes, at_us: int) -> dict[str, Any]:
    """Combined from the actor's fold checkpoints and at most a block of its rows (checkpoint_reads).

    Folding every row up to the date cost the busiest actor of a store of a million facts
    (50,000 of them) 400 ms; see ``bench/targets/checkpoints.py`` for what this costs.
    """
    return checkpointed_state(conn, actor_id, axes, at_us)


def actor_state_by_rows(conn: Connection, actor_id: str, axes: Axes, at_us: int) -> dict[str, Any]:
    """Folded from every one of the actor's rows up to the date: the reference the checkpoints equal."""
    fa = fact_actors
    rows = conn.execute(
        select(fa.c.roles, fa.c.fold)
        .where(fa.c.actor_id == actor_id, *_visible(fa, axes), fa.c.status == STATUS_ACTIVE, fa.c.occurred_us <= at_us)
        .order_by(fa.c.occurred_us, fa.c.first_position)
    )
    return fold_inputs((frozenset(roles[1:-1].split(",")), slim) for roles, slim in rows)


def world_state(conn: Connection, axes: Axes, at_us: int, only: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Every actor with a visible fact, folded; with ``only``, just those actors.

    Named actors are read as ``actor_state`` reads one, not by folding every fact of the
    store and keeping a few: 1.5 s -> 0.1 s for eight busy actors in a store of 100,000 facts
    (when they were folded from their rows). Without ``only``, every fact up to the date is
    folded as before: the checkpoints are per actor, and the answer names every actor.
    """
    if only:
        states = {actor: actor_state(conn, actor, axes, at_us) for actor in sorted(set(only))}
        return {actor: state for actor, state in states.items() if state["event_count"]}
    return dict(sorted(fold_states(_state_bodies(conn, axes, at_us)).items()))


def get_fact(conn: Connection, event_id: str, axes: Axes) -> dict[str, Any] | None:
    """The fact as known under the axes, with the revisions known then."""
    rows = conn.execute(
        select(fact_revisions).where(fact_revisions.c.event_id == event_id).order_by(fact_revisions.c.revision)
    ).all()
    known = known_at([change_from_row(r) for r in rows], axes.as_of_us, axes.reported_by_us)
    if known is None:
        return None
    first = rows[0]
    shown = [
        r
        for r in rows
        if (axes.as_of_us is None or r.recorded_us <= axes.as_of_us)
        and (axes.reported_by_us is None or r.reported_us <= axes.reported_by_us)
    ]
    view = stored_view(
        known.record,
        recorded_at=micros_to_text(first.fact_recorded_us) or "",
        position=first.first_position,
        revision=known.revision,
        status=known.status,
    )
    return {
        **view,
        "revisions": [
            {
                "revision": r.revision,
                "position": r.position,
                "recorded_at": micros_to_text(r.recorded_us),
                "reported_at": micros_to_text(r.reported_us),
                "kind": r.kind,
                "reason": r.reason,
                "changes": _described_changes(r),
            }
            for r in shown
        ],
    }


def _described_changes(row: Any) -> dict[str, Any] | None:
    if row.kind != KIND_CORRECTED:
        return None
    described = dict(row.changes or {})
    if row.added_sources:
        described["sources_added"] = row.added_sources
    return described


def changes(conn: Connection, after: int, limit: int) -> dict[str, Any]:
    fr = fact_revisions
    rows = conn.execute(select(fr).where(fr.c.position > after).order_by(fr.c.position).limit(limit)).all()
    items = [
        {
            "position": r.position,
            "kind": r.kind,
            "event_id": r.event_id,
            "recorded_at": micros_to_text(r.recorded_us),
            "event": fact_view(r),
        }
        for r in rows
    ]
    return {"items": items, "next_after": rows[-1].position if rows else after}
