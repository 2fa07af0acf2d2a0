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
by R and never ended. Otherwise the read looks inside.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, tuple_, update

from service.domain import summaries
from service.domain.revisions import STATUS_ACTIVE
from service.readmodels.tables import fact_actors, fold_blocks
from service.store.sql import insert_rows

Key = tuple[int, int]
MIN_KEY: Key = (-(2**63), -(2**63))
MAX_KEY: Key = (2**63 - 1, 2**63 - 1)
# Level-0 blocks hold fanout..2*fanout rows; bench/targets/checkpoints.py measured 16, 32 and 64.
FANOUT = 32

fb = fold_blocks


def start_of(table: Any) -> Any:
    return tuple_(table.c.start_occurred_us, table.c.start_position)


def end_of(table: Any) -> Any:
    return tuple_(table.c.end_occurred_us, table.c.end_position)


def row_key(table: Any) -> Any:
    return tuple_(table.c.occurred_us, table.c.first_position)


@dataclass(frozen=True)
class Item:
    """What a block version is computed from: an actor's row (level 0) or a block version below."""

    start: Key
    end: Key | None  # None: a row, which sits at one key
    recorded_us: int
    superseded_us: int | None
    count: int
    max_reported_us: int | None
    summary: summaries.Summary | None  # None: a row that no current view folds
    pair: tuple[frozenset[str], Mapping[str, Any]] | None = None  # a row's (roles, fold input)

    def valid_at(self, t: int) -> bool:
        return self.recorded_us <= t and (self.superseded_us is None or self.superseded_us > t)


@dataclass(frozen=True)
class Block:
    start: Key
    end: Key
    recorded_us: int | None  # None: a block of a level that has no version yet


@dataclass
class Changed:
    """A key touched in this batch: when, and (a block below) its latest version's start before."""

    times: set[int]
    floor: int | None = None


def _max(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def row_item(row: Any) -> Item:
    folded = row.status == STATUS_ACTIVE and row.reported_until_us is None
    pair = (frozenset(row.roles[1:-1].split(",")), row.fold) if folded else None
    return Item(
        start=(row.occurred_us, row.first_position),
        end=None,
        recorded_us=row.recorded_us,
        superseded_us=row.superseded_us,
        count=1,
        max_reported_us=max(row.reported_from_us, row.reported_until_us or row.reported_from_us),
        summary=None,
        pair=pair,
    )


def block_item(row: Any) -> Item:
    return Item(
        start=(row.start_occurred_us, row.start_position),
        end=(row.end_occurred_us, row.end_position),
        recorded_us=row.recorded_us,
        superseded_us=row.superseded_us,
        count=row.fact_count,
        max_reported_us=row.max_reported_us,
        summary=summaries.from_json(row.summary),
    )


ROW_COLUMNS = (
    fact_actors.c.occurred_us,
    fact_actors.c.first_position,
    fact_actors.c.recorded_us,
    fact_actors.c.superseded_us,
    fact_actors.c.reported_from_us,
    fact_actors.c.reported_until_us,
    fact_actors.c.status,
    fact_actors.c.roles,
    fact_actors.c.fold,
)


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
    """Re-version the blocks that contain the touched keys, level by level up to the top."""
    for actor_id in sorted(found):
        changed: dict[Key, Changed] = {}
        for key, t in found[actor_id]:
            changed.setdefault(key, Changed(set())).times.add(t)
        level = 0
        while changed:
            changed = _Level(conn, actor_id, level, fanout).update(changed)
            level += 1


class _Level:
    """One level of one actor's blocks, while a batch re-versions it."""

    def __init__(self, conn: Connection, actor_id: str, level: int, fanout: int):
        self.conn = conn
        self.actor_id = actor_id
        self.level = level
        self.fanout = fanout

    def current(self) -> list[Block]:
        rows = self.conn.execute(
            select(
                fb.c.start_occurred_us, fb.c.start_position, fb.c.end_occurred_us, fb.c.end_position, fb.c.recorded_us
            )
            .where(fb.c.actor_id == self.actor_id, fb.c.level == self.level, fb.c.superseded_us.is_(None))
            .order_by(fb.c.start_occurred_us, fb.c.start_position)
        ).all()
        return [Block((r[0], r[1]), (r[2], r[3]), r[4]) for r in rows]

    def update(self, below: Mapping[Key, Changed]) -> dict[Key, Changed]:
        """Re-version the blocks holding the changed keys (rows, or blocks below); what changed here."""
        blocks = self.current()
        if not blocks:
            if self.level > 0 and self._count(self.level - 1) <= 2 * self.fanout:
                return {}  # the level below is the top one
            blocks = [Block(MIN_KEY, MAX_KEY, None)]
        starts = [block.start for block in blocks]
        grouped: dict[int, dict[Key, Changed]] = {}
        for key, change in below.items():
            grouped.setdefault(bisect_right(starts, key) - 1, {})[key] = change
        changed: dict[Key, Changed] = {}
        for index, inside in sorted(grouped.items()):
            changed.update(self._reversion(blocks[index], inside))
        return changed

    def _count(self, level: int) -> int:
        return int(
            self.conn.execute(
                select(func.count()).where(
                    fb.c.actor_id == self.actor_id, fb.c.level == level, fb.c.superseded_us.is_(None)
                )
            ).scalar_one()
        )

    def _reversion(self, block: Block, inside: Mapping[Key, Changed]) -> dict[Key, Changed]:
        times = set().union(*(change.times for change in inside.values()))
        items = self._items(block, min(times))
        unchanged = (i.recorded_us for i in items if i.superseded_us is None and i.start not in inside)
        floors = [block.recorded_us, *(c.floor for c in inside.values())]
        if self.level > 0:
            floors.extend(unchanged)
        floor = _max(floors)
        first = min(times)
        if floor is not None and first <= floor:
            emitted = sorted({t for t in times if t >= floor} | {floor})
        else:
            emitted = sorted(times)
        self._close(block, first, gap=floor is not None and first <= floor)
        if emitted[0] > first:  # items are needed only from the first emission on
            items = [i for i in items if i.superseded_us is None or i.superseded_us > emitted[0]]
        rows: list[dict[str, Any]] = []
        made: dict[Key, Changed] = {}
        for start, end in self._pieces(block, items, emitted[-1]):
            within = [i for i in items if start <= i.start < end]
            rows.extend(self._versions(start, end, within, emitted))
            made[start] = Changed(set(emitted), floor=floor)
        if rows:
            insert_rows(self.conn, fold_blocks, rows)
        return made

    def _items(self, block: Block, since: int) -> list[Item]:
        if self.level == 0:
            fa = fact_actors
            query = select(*ROW_COLUMNS).where(
                fa.c.actor_id == self.actor_id,
                or_(fa.c.superseded_us.is_(None), fa.c.superseded_us > since),
                *_key_range(row_key(fa), block.start, block.end),
            )
            return [row_item(row) for row in self.conn.execute(query)]
        query = select(fb).where(
            fb.c.actor_id == self.actor_id,
            fb.c.level == self.level - 1,
            or_(fb.c.superseded_us.is_(None), fb.c.superseded_us > since),
            *_key_range(start_of(fb), block.start, block.end),
        )
        return [block_item(row) for row in self.conn.execute(query)]

    def _close(self, block: Block, at_us: int, *, gap: bool) -> None:
        """End the versions of the block's range that hold after ``at_us`` there."""
        if block.recorded_us is None:
            return
        mine = [fb.c.actor_id == self.actor_id, fb.c.level == self.level]
        if not gap:
            self.conn.execute(
                update(fb)
                .where(*mine, start_of(fb) == tuple_(*block.start), fb.c.superseded_us.is_(None))
                .values(superseded_us=at_us)
            )
            return
        overlapping = [
            *mine,
            or_(fb.c.superseded_us.is_(None), fb.c.superseded_us > at_us),
            start_of(fb) < tuple_(*block.end),
            end_of(fb) > tuple_(*block.start),
        ]
        self.conn.execute(delete(fb).where(*overlapping, fb.c.recorded_us >= at_us))
        self.conn.execute(update(fb).where(*overlapping).values(superseded_us=at_us))

    def _pieces(self, block: Block, items: list[Item], now: int) -> list[tuple[Key, Key]]:
        """The block's range, cut so that no piece holds more than 2 * fanout items now."""
        keys = sorted({i.start for i in items if i.valid_at(now)})
        if len(keys) <= 2 * self.fanout:
            return [(block.start, block.end)]
        # Pieces of fanout keys; the last takes the remainder, so each holds fanout..2*fanout-1.
        cuts = [keys[i * self.fanout] for i in range(1, len(keys) // self.fanout)]
        bounds = [block.start, *cuts, block.end]
        return list(zip(bounds, bounds[1:], strict=False))

    def _versions(self, start: Key, end: Key, items: list[Item], emitted: list[int]) -> list[dict[str, Any]]:
        """One row per run of emission times over which the piece's visible items stay the same."""
        runs: list[tuple[int, tuple[Item, ...] | None]] = []
        last: object = object()
        for t in emitted:
            visible = tuple(sorted((i for i in items if i.valid_at(t)), key=lambda i: i.start))
            content = visible if self._tiles(start, end, visible) else None
            same = None if content is None else tuple((i.start, i.recorded_us) for i in content)
            if not runs or same != last:
                runs.append((t, content))
            last = same
        rows = []
        for index, (t, content) in enumerate(runs):
            if content is None:
                continue
            until = runs[index + 1][0] if index + 1 < len(runs) else None
            rows.append(self._row(start, end, t, until, content))
        return rows

    def _tiles(self, start: Key, end: Key, visible: tuple[Item, ...]) -> bool:
        """Level 0 always; above, the blocks below must cover the piece exactly (no gap there)."""
        if self.level == 0:
            return True
        cursor = start
        for item in visible:
            if item.start != cursor or item.end is None:
                return False
            cursor = item.end
        return cursor == end

    def _row(self, start: Key, end: Key, t: int, until: int | None, content: tuple[Item, ...]) -> dict[str, Any]:
        if self.level == 0:
            summary = summaries.summarize(i.pair for i in content if i.pair is not None)
        else:
            summary = summaries.combine_all(i.summary for i in content if i.summary is not None)
        return {
            "actor_id": self.actor_id,
            "level": self.level,
            "start_occurred_us": start[0],
            "start_position": start[1],
            "recorded_us": t,
            "end_occurred_us": end[0],
            "end_position": end[1],
            "superseded_us": until,
            "fact_count": sum(i.count for i in content),
            "max_reported_us": _max(i.max_reported_us for i in content),
            "summary": summaries.to_json(summary),
        }


def _key_range(key: Any, start: Key, end: Key) -> list[Any]:
    conditions = []
    if start != MIN_KEY:
        conditions.append(key >= tuple_(*start))
    if end != MAX_KEY:
        conditions.append(key < tuple_(*end))
    return conditions


def backfill(conn: Connection, fanout: int = FANOUT) -> None:
    """Blocks for every actor's rows as they stand, each version starting at the actor's latest change.

    Earlier transaction times have no block, so an ``as_of`` before it folds rows: exact.
    """
    fa = fact_actors
    latest = func.max(func.coalesce(fa.c.superseded_us, fa.c.recorded_us))
    for actor_id, at_us in conn.execute(select(fa.c.actor_id, latest).group_by(fa.c.actor_id)).all():
        maintain(conn, {actor_id: [(MIN_KEY, at_us)]}, fanout)
