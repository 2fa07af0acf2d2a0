"""Checkpoints of the state fold: per actor, summaries of blocks of its rows, kept by the projection.

An actor's state at a date is the fold of its ``fact_actors`` rows in fact order (occurred time,
first position) up to that date. Folding them all costs as much as the actor's history; this
module keeps ``fold_blocks`` so that a read (``checkpoint_reads``) combines a few stored
summaries (``service.domain.summaries``, an associative algebra) and folds at most a block of
raw rows.

Blocks. Per actor and level, the key space is cut into ranges [start, end); the first range of
every level starts at ``MIN_KEY`` and the last ends at ``MAX_KEY``, so that no fact ever moves a
start. A level-0 block summarises the rows in its range; a level-k block combines the level k-1
blocks in its range. A block holding more than ``2 * fanout`` rows (level 0) or blocks (above)
is cut into pieces of ``fanout``; a level is added above the top one when that one holds more
than ``2 * fanout`` blocks. Blocks are never merged: a store whose facts mostly move away or are
retracted keeps small blocks, which costs reads more queries of the same kind, never a wrong
answer. With n rows a read combines O(fanout * log_fanout(n)) summaries and <= 2 * fanout rows.

Transaction time. A block version holds over [recorded_us, superseded_us), like a fact
version, and is the fold of the items in its range visible at any K in that interval (the rows
of the actor, or the versions of the blocks below). A change at time t re-versions only the
blocks containing its old and new keys, and their ancestors: once per distinct transaction time
of the batch, from the items as they are visible then. Time stamps come from the writing
processes and need not grow with positions: when a block's earliest change in the batch is not
after its latest version's start s, the versions valid after t are closed at t (or dropped) and
the new ones start at s. No two versions of one range ever hold at one K, and over [t, s) the
range has none, which a read folds from the rows themselves: exact, only slower.

Publication time. A summary is the view of the latest publication (rows whose
``reported_until_us`` is NULL). ``max_reported_us`` is the latest publication time any row of
the block starts or ends at; the block's summary is the view reported by R exactly when
``max_reported_us <= R``: every row then either ended its publication interval by R or began it
by R and never ended (a guarantee: the block's view under R is its summary, whatever R is).
``min_reported_us`` is the earliest time a row of the block begins at: when it is after R, no
row is visible under R and the block adds nothing. Otherwise the read looks inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from service.readmodels.checkpoint_levels import MAX_KEY, MIN_KEY, Changed, Key, Level, end_of, start_of
from service.readmodels.tables import fact_actors

# Level-0 blocks hold fanout..2*fanout rows and a read combines up to 2*fanout summaries a level:
# a smaller fanout means more levels (queries) and versions, a larger one more rows folded raw.
# Only 32 was measured (bench/targets/checkpoints.py takes --fanout to compare others).
FANOUT = 32

__all__ = ["FANOUT", "MAX_KEY", "MIN_KEY", "Key", "backfill", "end_of", "maintain", "row_key", "start_of", "touches"]


def row_key(table: Any) -> Any:
    return tuple_(table.c.occurred_us, table.c.first_position)


def touches(
    conn: Connection, inserted: Sequence[Mapping[str, Any]], changed_facts: Iterable[str]
) -> dict[str, set[tuple[Key, int]]]:
    """Per actor, the (key, transaction time) of every row this batch opened or closed."""
    found: dict[str, set[tuple[Key, int]]] = {}
    for row in inserted:
        key = (row["occurred_us"], row["first_position"])
        found.setdefault(row["actor_id"], set()).add((key, row["recorded_us"]))
        if row["superseded_us"] is not None:
            found[row["actor_id"]].add((key, row["superseded_us"]))
    changed = sorted(set(changed_facts))
    times = [row["recorded_us"] for row in inserted]
    if changed and times:
        fa = fact_actors
        closed = conn.execute(
            select(fa.c.actor_id, fa.c.occurred_us, fa.c.first_position, fa.c.superseded_us).where(
                fa.c.event_id.in_(changed), fa.c.superseded_us >= min(times)
            )
        )
        for actor_id, occurred_us, first_position, superseded_us in closed:
            found.setdefault(actor_id, set()).add(((occurred_us, first_position), superseded_us))
    return found


def maintain(conn: Connection, found: Mapping[str, Iterable[tuple[Key, int]]], fanout: int = FANOUT) -> None:
    """Re-version the blocks that contain the touched keys, level by level up to each actor's top."""
    changed: dict[str, dict[Key, Changed]] = {}
    for actor_id, touched in found.items():
        mine = changed.setdefault(actor_id, {})
        for key, t in touched:
            mine.setdefault(key, Changed(set())).times.add(t)
    counts: dict[str, int] = {}
    level = 0
    while changed:
        changed, counts = Level(conn, level, fanout).update(changed, counts)
        changed = {actor_id: keys for actor_id, keys in changed.items() if keys}
        level += 1


def backfill(conn: Connection, fanout: int = FANOUT) -> None:
    """Blocks for every actor's rows as they stand, each version starting at the actor's latest change.

    Earlier transaction times have no block, so an ``as_of`` before it folds rows: exact.
    """
    fa = fact_actors
    latest = func.max(func.coalesce(fa.c.superseded_us, fa.c.recorded_us))
    rows = conn.execute(select(fa.c.actor_id, latest).group_by(fa.c.actor_id))
    found = {actor_id: [(MIN_KEY, at_us)] for actor_id, at_us in rows}
    maintain(conn, found, fanout)
