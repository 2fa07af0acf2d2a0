"""Counts kept beside the read models, so that whole-store answers need not scan the facts.

Per (actor, UTC day, type): facts and fatalities now (``day_counts``), and every change of
those counts at the transaction time it happened (``day_count_changes``), which keeps
``as_of`` exact. Per actor: its facts and the first and last time they occurred
(``actor_totals``). A fact counts where its version known now on the publication axis
(every change, whenever reported) is active; the projection calls ``Tallies.replace`` for
each change of a fact and ``Tallies.write`` in the transaction that writes its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, literal, select

from service.domain.instants import text_to_micros
from service.domain.revisions import STATUS_ACTIVE, Known
from service.readmodels.tables import (
    actor_totals,
    day_count_changes,
    day_count_checkpoints,
    day_counts,
    fact_actors,
)
from service.store.sql import dialect_insert

# The actor of the rows that count every fact once: no slug is empty.
WHOLE_STORE = ""

# Days are counted from 0001-01-01 so that integer division floors alike on both backends
# (PostgreSQL and SQLite both truncate towards zero, which is wrong before 1970).
DAY_US = 86_400_000_000
DAYS_BEFORE_EPOCH = 719_162

# The only fact type with fatalities.
FATAL_TYPE = "StrikeOccurred"

# Events between two checkpoints of the whole store's counts: an as_of reads at most half as
# many changes (about 20 ms on SQLite) beside one checkpoint (a row per day and type).
CHECKPOINT_EVERY = 20_000

# Rows per IN list when reading actors' totals back (well under SQLite's bound on parameters).
_CHUNK = 500


def day_number(occurred_us: int) -> int:
    """The day an instant falls on, numbered as the scan numbers it (Python's // floors)."""
    return (occurred_us + DAYS_BEFORE_EPOCH * DAY_US) // DAY_US


@dataclass(frozen=True)
class Counted:
    """What one active fact adds to the counts."""

    day: int
    type: str
    occurred_us: int
    fatalities: int
    actors: tuple[str, ...]


def counted(known: Known | None) -> Counted | None:
    if known is None or known.status != STATUS_ACTIVE:
        return None
    record = known.record
    occurred_us = text_to_micros(record["occurred_at"])
    fatalities = (record.get("fatalities") or 0) if record["type"] == FATAL_TYPE else 0
    actor_ids = tuple(dict.fromkeys(ref["id"] for ref in record["actors"]))
    return Counted(day_number(occurred_us), record["type"], occurred_us, fatalities, actor_ids)


@dataclass
class _ActorChange:
    facts: int = 0
    added: list[int] = field(default_factory=list)  # occurred times that now count
    removed: list[int] = field(default_factory=list)  # occurred times that no longer count


class Tallies:
    """What one batch of the projection changes in the counts, written at its end."""

    def __init__(self, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.checkpoint_every = checkpoint_every
        self.days: dict[tuple[str, int, str], list[int]] = {}
        self.changes: dict[tuple[str, int, int, str], list[int]] = {}
        self.actors: dict[str, _ActorChange] = {}
        self.positions: list[int] = []

    def replace(self, before: Known | None, after: Known | None, recorded_us: int, position: int) -> None:
        """A fact went from ``before`` to ``after`` (None: unknown) at ``recorded_us``."""
        self.positions.append(position)
        old, new = counted(before), counted(after)
        if old == new:
            return
        if old is not None:
            self._add(old, -1, recorded_us)
        if new is not None:
            self._add(new, 1, recorded_us)

    def _add(self, fact: Counted, sign: int, recorded_us: int) -> None:
        for actor_id in (WHOLE_STORE, *fact.actors):
            for tally in (
                self.days.setdefault((actor_id, fact.day, fact.type), [0, 0]),
                self.changes.setdefault((actor_id, recorded_us, fact.day, fact.type), [0, 0]),
            ):
                tally[0] += sign
                tally[1] += sign * fact.fatalities
        for actor_id in fact.actors:
            change = self.actors.setdefault(actor_id, _ActorChange())
            change.facts += sign
            (change.added if sign > 0 else change.removed).append(fact.occurred_us)

    def write(self, conn: Connection) -> None:
        """Add the batch to the tables; run after the batch's fact_actors rows are written."""
        days = [(*key, f, d) for key, (f, d) in self.days.items() if f or d]
        changes = [(*key, f, d) for key, (f, d) in self.changes.items() if f or d]
        if days:
            conn.exec_driver_sql(_adding_upsert(day_counts, conn.dialect.paramstyle), days)
        if changes:
            conn.exec_driver_sql(_adding_upsert(day_count_changes, conn.dialect.paramstyle), changes)
            _amend_checkpoints(conn, [c for c in changes if c[0] == WHOLE_STORE])
        if self.actors:
            _write_actor_totals(conn, self.actors)
        every = self.checkpoint_every
        if self.positions and max(self.positions) // every > (min(self.positions) - 1) // every:
            _take_checkpoint(conn)


@cache
def _adding_upsert(table: Table, paramstyle: str) -> str:
    """INSERT ... ON CONFLICT DO UPDATE that adds the counts (both backends spell it alike).

    Through the driver's executemany: SQLAlchemy's per-row processing of an upsert cost as much
    as the writes themselves in the projection's batches.
    """
    keys = [c.name for c in table.primary_key.columns]
    names = [c.name for c in table.columns]
    mark = "?" if paramstyle == "qmark" else "%s"
    added = ", ".join(f"{n} = {table.name}.{n} + excluded.{n}" for n in names if n not in keys)
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
    )


def _amend_checkpoints(conn: Connection, changes: Sequence[tuple[Any, ...]]) -> None:
    """Add changes to the checkpoints taken after the time they were recorded at.

    Events reach the log a little out of their time order (appends commit in batches, from more
    than one process), so a change may be applied after a checkpoint later than its time.
    """
    if not changes:
        return
    cp = day_count_checkpoints
    taken = conn.execute(
        select(cp.c.taken_us)
        .distinct()
        .where(cp.c.actor_id == WHOLE_STORE, cp.c.taken_us >= min(c[1] for c in changes))
    ).scalars()
    for taken_us in taken:
        summed: dict[tuple[int, str], list[int]] = {}
        for _, recorded_us, day, kind, facts, fatalities in changes:
            if recorded_us <= taken_us:
                tally = summed.setdefault((day, kind), [0, 0])
                tally[0] += facts
                tally[1] += fatalities
        rows = [(WHOLE_STORE, taken_us, day, kind, f, d) for (day, kind), (f, d) in summed.items()]
        conn.exec_driver_sql(_adding_upsert(cp, conn.dialect.paramstyle), rows)


def _take_checkpoint(conn: Connection) -> None:
    """The whole store's counts now are every change applied, none recorded after the latest."""
    ch, cp, dc = day_count_changes, day_count_checkpoints, day_counts
    latest = select(ch.c.recorded_us).where(ch.c.actor_id == WHOLE_STORE).order_by(ch.c.recorded_us.desc()).limit(1)
    taken_us = conn.execute(latest).scalar()
    taken = select(cp.c.taken_us).where(cp.c.actor_id == WHOLE_STORE, cp.c.taken_us == taken_us).limit(1)
    if taken_us is None or conn.execute(taken).first() is not None:
        return
    counts = select(dc.c.actor_id, literal(taken_us, BigInteger), dc.c.day, dc.c.type, dc.c.facts, dc.c.fatalities)
    columns = ["actor_id", "taken_us", "day", "type", "facts", "fatalities"]
    conn.execute(cp.insert().from_select(columns, counts.where(dc.c.actor_id == WHOLE_STORE, dc.c.facts != 0)))


def _write_actor_totals(conn: Connection, changed: dict[str, _ActorChange]) -> None:
    """Counts add up; a first or last time only moves outwards, unless a fact that may have held
    it no longer counts: then it is read again from the actor's rows (their timeline index)."""
    stored = _stored_totals(conn, list(changed))
    rows = []
    for actor_id, change in changed.items():
        facts, first, last = stored.get(actor_id, (0, None, None))
        facts += change.facts
        held = [*change.added, *((first, last) if first is not None and last is not None else ())]
        if facts == 0:
            first = last = None
        elif change.removed and (not held or any(t <= min(held) or t >= max(held) for t in change.removed)):
            first, last = _occurred_bounds(conn, actor_id)
        elif held:
            first, last = min(held), max(held)
        rows.append({"actor_id": actor_id, "facts": facts, "first_us": first, "last_us": last})
    statement = dialect_insert(conn, actor_totals)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["actor_id"], set_={n: statement.excluded[n] for n in ("facts", "first_us", "last_us")}
        ),
        rows,
    )


def _stored_totals(conn: Connection, actor_ids: Sequence[str]) -> dict[str, tuple[int, int | None, int | None]]:
    at = actor_totals
    found: dict[str, tuple[int, int | None, int | None]] = {}
    for start in range(0, len(actor_ids), _CHUNK):
        chunk = actor_ids[start : start + _CHUNK]
        for row in conn.execute(select(at).where(at.c.actor_id.in_(chunk))):
            found[row.actor_id] = (row.facts, row.first_us, row.last_us)
    return found


def current_actor_rows(actor_id: str) -> list[Any]:
    """Conditions on fact_actors for the actor's rows that count now."""
    fa = fact_actors
    return [
        fa.c.actor_id == actor_id,
        fa.c.superseded_us.is_(None),
        fa.c.reported_until_us.is_(None),
        fa.c.status == STATUS_ACTIVE,
    ]


def _occurred_bounds(conn: Connection, actor_id: str) -> tuple[int | None, int | None]:
    occurred = fact_actors.c.occurred_us
    base = select(occurred).where(*current_actor_rows(actor_id)).limit(1)
    first = conn.execute(base.order_by(occurred)).scalar()
    last = conn.execute(base.order_by(occurred.desc())).scalar()
    return first, last
