"""One level of the fold checkpoints re-versioned for a projection batch (see ``checkpoints``).

A batch touches hundreds of actors, most of them with one block: building and compiling a
SQLAlchemy statement per query cost more than the queries (profiled: 18 times the projection's
own time). So the level's current blocks of every touched actor are read in one query, the
closing updates go in one ``executemany``, the new versions in one insert, and the per-block
reads are plain SQL text prepared once per backend.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, delete, or_, tuple_, update

from service.domain import summaries
from service.domain.revisions import STATUS_ACTIVE
from service.readmodels.tables import fold_blocks
from service.store.sql import insert_rows

Key = tuple[int, int]
MIN_KEY: Key = (-(2**63), -(2**63))
MAX_KEY: Key = (2**63 - 1, 2**63 - 1)

fb = fold_blocks


def start_of(table: Any) -> Any:
    return tuple_(table.c.start_occurred_us, table.c.start_position)


def end_of(table: Any) -> Any:
    return tuple_(table.c.end_occurred_us, table.c.end_position)


def _json(value: Any) -> Any:
    """A JSON column read through the driver: text on SQLite, decoded already by psycopg."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class Item:
    """What a block version is computed from: an actor's row (level 0) or a block version below."""

    start: Key
    end: Key | None  # None: a row, which sits at one key
    recorded_us: int
    superseded_us: int | None
    count: int
    max_reported_us: int | None
    min_reported_us: int | None
    summary: Any  # a block's stored summary (JSON), or a row's (roles, fold input); None: folds nothing

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


def _min(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


@cache
def _sql(paramstyle: str) -> dict[str, str]:
    m = "?" if paramstyle == "qmark" else "%s"
    return {
        "rows": (
            "SELECT occurred_us, first_position, recorded_us, superseded_us, reported_from_us,"
            " reported_until_us, status, roles, fold FROM fact_actors"
            f" WHERE actor_id = {m} AND (superseded_us IS NULL OR superseded_us > {m})"
            f" AND (occurred_us, first_position) >= ({m}, {m}) AND (occurred_us, first_position) < ({m}, {m})"
        ),
        "blocks": (
            "SELECT start_occurred_us, start_position, end_occurred_us, end_position, recorded_us,"
            " superseded_us, fact_count, max_reported_us, min_reported_us, summary FROM fold_blocks"
            f" WHERE actor_id = {m} AND level = {m} AND (superseded_us IS NULL OR superseded_us > {m})"
            f" AND (start_occurred_us, start_position) >= ({m}, {m})"
            f" AND (start_occurred_us, start_position) < ({m}, {m})"
        ),
        "close": (
            f"UPDATE fold_blocks SET superseded_us = {m} WHERE actor_id = {m} AND level = {m}"
            f" AND start_occurred_us = {m} AND start_position = {m} AND superseded_us IS NULL"
        ),
        "drop": (
            f"DELETE FROM fold_blocks WHERE actor_id = {m} AND level = {m}"
            f" AND start_occurred_us = {m} AND start_position = {m} AND recorded_us = {m}"
        ),
        "current": (
            "SELECT actor_id, start_occurred_us, start_position, end_occurred_us, end_position, recorded_us"
            f" FROM fold_blocks WHERE level = {m} AND superseded_us IS NULL AND actor_id IN "
        ),
        "mark": m,
    }


def _row_item(row: Any) -> Item:
    occurred_us, first_position, recorded_us, superseded_us, reported_from, reported_until, status, roles, fold = row
    folded = status == STATUS_ACTIVE and reported_until is None
    return Item(
        start=(occurred_us, first_position),
        end=None,
        recorded_us=recorded_us,
        superseded_us=superseded_us,
        count=1,
        max_reported_us=max(reported_from, reported_until or reported_from),
        min_reported_us=reported_from,
        summary=(frozenset(roles[1:-1].split(",")), _json(fold)) if folded else None,
    )


def _block_item(row: Any) -> Item:
    return Item(
        start=(row[0], row[1]),
        end=(row[2], row[3]),
        recorded_us=row[4],
        superseded_us=row[5],
        count=row[6],
        max_reported_us=row[7],
        min_reported_us=row[8],
        summary=_json(row[9]),
    )


class Level:
    """One level of the touched actors' blocks, re-versioned for one batch."""

    def __init__(self, conn: Connection, level: int, fanout: int):
        self.conn = conn
        self.level = level
        self.fanout = fanout
        self.sql = _sql(conn.dialect.paramstyle)
        # The driver's own cursor, in the connection's transaction: SQLAlchemy's result objects
        # cost as much again as a small query.
        self.cursor = conn.connection.cursor()
        self.closes: list[tuple[int, str, int, int, int]] = []
        self.drops: list[tuple[str, int, int, int, int]] = []
        self.rows: list[dict[str, Any]] = []

    def current(self, actors: list[str]) -> dict[str, list[Block]]:
        found: dict[str, list[Block]] = {}
        for index in range(0, len(actors), 500):
            chunk = actors[index : index + 500]
            marks = ", ".join([self.sql["mark"]] * len(chunk))
            for r in self._fetch(f"{self.sql['current']}({marks})", (self.level, *chunk)):
                found.setdefault(r[0], []).append(Block((r[1], r[2]), (r[3], r[4]), r[5]))
        for blocks in found.values():
            blocks.sort(key=lambda block: block.start)
        return found

    def update(
        self, changed: Mapping[str, Mapping[Key, Changed]], below: Mapping[str, int]
    ) -> tuple[dict[str, dict[Key, Changed]], dict[str, int]]:
        """Re-version, per actor, the blocks holding the changed keys (rows, or blocks below).

        ``below``: how many current blocks each actor has on the level below (none for level 0).
        Returns what changed here, and how many current blocks each actor now has here.
        """
        current = self.current(sorted(changed))
        made: dict[str, dict[Key, Changed]] = {}
        counts: dict[str, int] = {}
        for actor_id in sorted(changed):
            blocks = current.get(actor_id)
            if not blocks:
                if self.level > 0 and below.get(actor_id, 0) <= 2 * self.fanout:
                    continue  # the level below is the actor's top one
                blocks = [Block(MIN_KEY, MAX_KEY, None)]
            starts = [block.start for block in blocks]
            grouped: dict[int, dict[Key, Changed]] = {}
            for key, change in changed[actor_id].items():
                grouped.setdefault(bisect_right(starts, key) - 1, {})[key] = change
            mine: dict[Key, Changed] = {}
            for index, inside in sorted(grouped.items()):
                mine.update(self._reversion(actor_id, blocks[index], inside))
            made[actor_id] = mine
            counts[actor_id] = len(blocks) - len(grouped) + len(mine)
        if self.drops:
            self.cursor.executemany(self.sql["drop"], self.drops)
        if self.closes:
            self.cursor.executemany(self.sql["close"], self.closes)
        if self.rows:
            insert_rows(self.conn, fold_blocks, self.rows)
        return made, counts

    def _reversion(self, actor_id: str, block: Block, inside: Mapping[Key, Changed]) -> dict[Key, Changed]:
        times = set().union(*(change.times for change in inside.values()))
        first = min(times)
        items = self._items(actor_id, block, first)
        floors = [block.recorded_us, *(c.floor for c in inside.values())]
        if self.level > 0:
            floors.extend(i.recorded_us for i in items if i.superseded_us is None and i.start not in inside)
        floor = _max(floors)
        gap = floor is not None and first <= floor
        emitted = sorted({t for t in times if t >= floor} | {floor}) if gap and floor is not None else sorted(times)
        self._close(actor_id, block, first)
        if emitted[0] > first:  # items are needed only from the first emission on
            items = [i for i in items if i.superseded_us is None or i.superseded_us > emitted[0]]
        made: dict[Key, Changed] = {}
        for start, end in self._pieces(block, items, emitted[-1]):
            within = [i for i in items if start <= i.start < end]
            self.rows.extend(self._versions(actor_id, start, end, within, emitted))
            made[start] = Changed(set(emitted), floor=floor)
        return made

    def _items(self, actor_id: str, block: Block, since: int) -> list[Item]:
        if self.level == 0:
            rows = self._fetch(self.sql["rows"], (actor_id, since, *block.start, *block.end))
            return [_row_item(row) for row in rows]
        params = (actor_id, self.level - 1, since, *block.start, *block.end)
        return [_block_item(row) for row in self._fetch(self.sql["blocks"], params)]

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        self.cursor.execute(sql, params)
        return list(self.cursor.fetchall())

    def _close(self, actor_id: str, block: Block, at_us: int) -> None:
        """End the versions of the block's range that hold after ``at_us`` there.

        Older versions of the range (or of the ranges it was cut from) end by the current one's
        start, so unless ``at_us`` is before that start only the current version is concerned:
        closed at ``at_us``, or dropped when it starts then (a batch of one stamp, projected in
        two batches). Before it, the versions of another writer's later stamps are cut back too.
        """
        if block.recorded_us is None:
            return
        if at_us > block.recorded_us:
            self.closes.append((at_us, actor_id, self.level, *block.start))
            return
        if at_us == block.recorded_us:
            self.drops.append((actor_id, self.level, *block.start, at_us))
            return
        overlapping = [
            fb.c.actor_id == actor_id,
            fb.c.level == self.level,
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

    def _versions(
        self, actor_id: str, start: Key, end: Key, items: list[Item], emitted: list[int]
    ) -> list[dict[str, Any]]:
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
            rows.append(self._row(actor_id, start, end, t, until, content))
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

    def _row(
        self, actor_id: str, start: Key, end: Key, t: int, until: int | None, content: tuple[Item, ...]
    ) -> dict[str, Any]:
        if self.level == 0:
            summary = summaries.summarize(i.summary for i in content if i.summary is not None)
        else:
            summary = summaries.combine_all(summaries.from_json(i.summary) for i in content)
        return {
            "actor_id": actor_id,
            "level": self.level,
            "start_occurred_us": start[0],
            "start_position": start[1],
            "recorded_us": t,
            "end_occurred_us": end[0],
            "end_position": end[1],
            "superseded_us": until,
            "fact_count": sum(i.count for i in content),
            "max_reported_us": _max(i.max_reported_us for i in content),
            "min_reported_us": _min(i.min_reported_us for i in content),
            "summary": summaries.to_json(summary),
        }
