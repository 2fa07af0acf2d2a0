"""An actor's state at a date from its fold checkpoints (``fold_blocks``, see ``checkpoints``).

The read covers the keys up to the date, [MIN_KEY, (at + 1 us, MIN)), from the top level down.
At each level one query takes the block versions valid at ``as_of`` that overlap what is still
to cover; a block lying wholly inside it whose summary is the view reported by ``reported_by``
(``max_reported_us <= R``) is taken, one none of whose rows was published by R
(``min_reported_us > R``) adds nothing; what is left (the block holding the date, a block with
revisions published on both sides of R, a range with no valid version) is looked for one level
down. At
level 0 what is left is folded from the actor's rows under both axes, as ``actor_state_by_rows``
folds all of them. So a read costs one query per level, O(fanout) summaries per level and the
raw rows of what was left.

Bound under ``reported_by``: the raw rows folded are those of the partial block at the date
plus those of every level-0 block holding rows published both by R and after R. Facts are
reported after they occur, so those are the blocks of the facts that occurred in the weeks
before R (a fact, or a correction of one, reported after R) - about a month of facts in the
benchmark's store, whose corrections come up to 30 days later - wherever the date is.

That bound assumes publication times near the facts. A fact recorded without ``reported_at``
is published when recorded, which for a store of past events is after every R: one such row
makes its block's ``max_reported_us`` later than any R, so its block is folded raw. In the
benchmark's store (5 % of facts so, nearly every block has one) ``reported_by`` reads cost
what the plain fold costs, or a little more (bench/targets/checkpoints.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Integer, Text, cast, func, literal_column, select, text, tuple_, union_all

from service.domain import summaries
from service.domain.revisions import STATUS_ACTIVE
from service.readmodels.checkpoints import MAX_KEY, MIN_KEY, Key, end_of, row_key, start_of
from service.readmodels.tables import fact_actors, fold_blocks
from service.readmodels.visibility import Axes, held_at, visible

Span = tuple[Key, Key]


def checkpointed_state(conn: Connection, actor_id: str, axes: Axes, at_us: int) -> dict[str, Any]:
    fb = fold_blocks
    top = conn.execute(select(func.max(fb.c.level)).where(fb.c.actor_id == actor_id)).scalar()
    pending: list[Span] = [(MIN_KEY, (at_us + 1, MIN_KEY[1]))]
    parts: list[tuple[Key, summaries.Summary]] = []
    for level in range(top if top is not None else -1, -1, -1):
        if not pending:
            break
        blocks = _blocks(conn, actor_id, level, axes.as_of_us, pending)
        pending = _cover(pending, blocks, axes.reported_by_us, parts)
    if pending:
        parts.extend(_raw(conn, actor_id, axes, pending))
    parts.sort(key=lambda part: part[0])
    return summaries.state_of(summaries.combine_all(summary for _, summary in parts))


def _blocks(conn: Connection, actor_id: str, level: int, as_of_us: int | None, pending: list[Span]) -> list[Any]:
    fb = fold_blocks
    query = select(
        fb.c.start_occurred_us,
        fb.c.start_position,
        fb.c.end_occurred_us,
        fb.c.end_position,
        fb.c.max_reported_us,
        fb.c.min_reported_us,
        # As text, decoded only for the blocks taken: most of a level's blocks in range are not.
        cast(fb.c.summary, Text).label("summary"),
    ).where(
        fb.c.actor_id == actor_id,
        fb.c.level == level,
        *held_at(fb.c.recorded_us, fb.c.superseded_us, as_of_us),
        start_of(fb) < tuple_(*pending[-1][1]),
        end_of(fb) > tuple_(*pending[0][0]),
    )
    return sorted(conn.execute(query).all(), key=lambda r: (r[0], r[1]))


def _cover(
    pending: list[Span], blocks: list[Any], reported_by_us: int | None, parts: list[tuple[Key, summaries.Summary]]
) -> list[Span]:
    """Take the usable blocks lying inside the pending spans; the spans still to cover.

    The spans are disjoint and sorted, and so are the blocks valid at one ``as_of``: a block
    across a span's end starts before the next span, so it is never inside that one either.
    """
    left: list[Span] = []
    index = 0
    for low, high in pending:
        cursor = low
        while index < len(blocks) and (blocks[index][0], blocks[index][1]) < high:
            row = blocks[index]
            index += 1
            start, end = (row[0], row[1]), (row[2], row[3])
            if start < cursor or end > high:
                continue
            unpublished = reported_by_us is not None and (row.min_reported_us or 0) > reported_by_us
            if not unpublished and reported_by_us is not None and (row.max_reported_us or 0) > reported_by_us:
                continue
            if start > cursor:
                left.append((cursor, start))
            if not unpublished:
                parts.append((start, summaries.from_json(orjson.loads(row.summary))))
            cursor = end
        if cursor < high:
            left.append((cursor, high))
    return left


def _raw(conn: Connection, actor_id: str, axes: Axes, spans: list[Span]) -> list[tuple[Key, summaries.Summary]]:
    """The spans left folded from the actor's rows: one SELECT a span, in one statement.

    One SELECT with an OR of the spans' ranges was read by a scan of all the actor's rows on
    SQLite (slower than the plain fold); each branch of the UNION is an index range.
    """
    fa = fact_actors
    key = row_key(fa)
    branches = []
    for index, (low, high) in enumerate(spans):
        conditions = [key < tuple_(*high)] if high != MAX_KEY else []
        if low != MIN_KEY:
            conditions.append(key >= tuple_(*low))
        tag = literal_column(str(index), Integer).label("span")
        branches.append(
            select(tag, fa.c.occurred_us, fa.c.first_position, fa.c.roles, fa.c.fold).where(
                fa.c.actor_id == actor_id, *visible(fa, axes), fa.c.status == STATUS_ACTIVE, *conditions
            )
        )
    query = branches[0] if len(branches) == 1 else union_all(*branches).subquery().select()
    found: dict[int, list[tuple[frozenset[str], Any]]] = {}
    rows = conn.execute(query.order_by(text("span"), text("occurred_us"), text("first_position")))
    for span, _, _, roles, fold in rows:
        found.setdefault(span, []).append((frozenset(roles[1:-1].split(",")), fold))
    return [(spans[index][0], summaries.summarize(pairs)) for index, pairs in sorted(found.items())]
