"""Counts per (actor, UTC day, type), their changes over transaction time and checkpoints, actor totals.

The projection keeps them in the transaction that writes the facts' rows
(``service.readmodels.tallies``); this fills them from the read models as they stand, so
that a store upgraded in place answers the same as one rebuilt from the log.

Revision ID: 0005
Create Date: 2026-12-07
"""

import itertools

import sqlalchemy as sa
from alembic import op

from service.readmodels.tallies import CHECKPOINT_EVERY, DAY_US, DAYS_BEFORE_EPOCH, FATAL_TYPE, WHOLE_STORE

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("day_counts", "day_count_changes", "actor_totals", "day_count_checkpoints")


def _create_day_count_table(name: str, *moment: sa.Column[int]) -> None:
    op.create_table(
        name,
        sa.Column("actor_id", sa.String(80), primary_key=True),
        *moment,
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(40), primary_key=True),
        sa.Column("facts", sa.BigInteger, nullable=False),
        sa.Column("fatalities", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )


def _create_tables() -> None:
    _create_day_count_table("day_counts")
    _create_day_count_table("day_count_changes", sa.Column("recorded_us", sa.BigInteger, primary_key=True))
    _create_day_count_table("day_count_checkpoints", sa.Column("taken_us", sa.BigInteger, primary_key=True))
    op.create_table(
        "actor_totals",
        sa.Column("actor_id", sa.String(80), primary_key=True),
        sa.Column("facts", sa.BigInteger, nullable=False),
        sa.Column("first_us", sa.BigInteger, nullable=True),
        sa.Column("last_us", sa.BigInteger, nullable=True),
    )


# The read models as 0003 left them: only the columns the backfill reads.
_meta = sa.MetaData()
_versions = sa.Table(
    "fact_versions",
    _meta,
    *(sa.Column(n, sa.String) for n in ("event_id", "type", "status")),
    *(sa.Column(n, sa.BigInteger) for n in ("version", "occurred_us", "recorded_us", "superseded_us")),
    sa.Column("reported_until_us", sa.BigInteger),
    sa.Column("body", sa.JSON),
)
_actors = sa.Table(
    "fact_actors",
    _meta,
    *(sa.Column(n, sa.String) for n in ("actor_id", "event_id", "status")),
    *(sa.Column(n, sa.BigInteger) for n in ("version", "occurred_us", "superseded_us", "reported_until_us")),
)
_day_counts = sa.Table("day_counts", _meta, *(sa.Column(n) for n in ("actor_id", "day", "type", "facts", "fatalities")))
_changes = sa.Table(
    "day_count_changes",
    _meta,
    *(sa.Column(n) for n in ("actor_id", "recorded_us", "day", "type", "facts", "fatalities")),
)
_checkpoints = sa.Table(
    "day_count_checkpoints",
    _meta,
    *(sa.Column(n) for n in ("actor_id", "taken_us", "day", "type", "facts", "fatalities")),
)
_totals = sa.Table("actor_totals", _meta, *(sa.Column(n) for n in ("actor_id", "facts", "first_us", "last_us")))


def _counted_versions() -> sa.Subquery:
    """Every version that was, over its transaction time, what is known now on the publication
    axis, active; with its day, its fatalities, and each actor it names (and the whole store)."""
    fv, fa = _versions, _actors
    fatalities = sa.case((fv.c.type == FATAL_TYPE, fv.c.body["fatalities"].as_integer()), else_=0)
    day = (fv.c.occurred_us + DAYS_BEFORE_EPOCH * DAY_US) // DAY_US
    columns = [
        fv.c.recorded_us,
        fv.c.superseded_us,
        day.label("day"),
        fv.c.type,
        sa.func.coalesce(fatalities, 0).label("fatalities"),
    ]
    counted = [fv.c.reported_until_us.is_(None), fv.c.status == "active"]
    whole = sa.select(sa.literal(WHOLE_STORE, sa.String).label("actor_id"), *columns).where(*counted)
    named = (
        sa.select(fa.c.actor_id, *columns)
        .select_from(fv.join(fa, sa.and_(fa.c.event_id == fv.c.event_id, fa.c.version == fv.c.version)))
        .where(*counted)
    )
    return sa.union_all(whole, named).subquery()


def _backfill() -> None:
    bind = op.get_bind()
    counted = _counted_versions()
    keys = [counted.c.actor_id, counted.c.day, counted.c.type]
    now = (
        sa.select(*keys, sa.func.count(), sa.func.sum(counted.c.fatalities))
        .where(counted.c.superseded_us.is_(None))
        .group_by(*keys)
    )
    bind.execute(_day_counts.insert().from_select(["actor_id", "day", "type", "facts", "fatalities"], now))
    # Each version added its fact when it was recorded and took it away when it was superseded.
    opened = sa.select(
        counted.c.actor_id, counted.c.recorded_us.label("at"), counted.c.day, counted.c.type,
        sa.literal(1).label("n"), counted.c.fatalities.label("dead"),
    )  # fmt: skip
    closed = sa.select(
        counted.c.actor_id, counted.c.superseded_us.label("at"), counted.c.day, counted.c.type,
        sa.literal(-1).label("n"), (-counted.c.fatalities).label("dead"),
    ).where(counted.c.superseded_us.is_not(None))  # fmt: skip
    moves = sa.union_all(opened, closed).subquery()
    move_keys = [moves.c.actor_id, moves.c.at, moves.c.day, moves.c.type]
    summed = (
        sa.select(*move_keys, sa.func.sum(moves.c.n), sa.func.sum(moves.c.dead))
        .group_by(*move_keys)
        .having(sa.or_(sa.func.sum(moves.c.n) != 0, sa.func.sum(moves.c.dead) != 0))
    )
    bind.execute(
        _changes.insert().from_select(["actor_id", "recorded_us", "day", "type", "facts", "fatalities"], summed)
    )
    fa = _actors
    totals = (
        sa.select(fa.c.actor_id, sa.func.count(), sa.func.min(fa.c.occurred_us), sa.func.max(fa.c.occurred_us))
        .where(fa.c.superseded_us.is_(None), fa.c.reported_until_us.is_(None), fa.c.status == "active")
        .group_by(fa.c.actor_id)
    )
    bind.execute(_totals.insert().from_select(["actor_id", "facts", "first_us", "last_us"], totals))


def _backfill_checkpoints() -> None:
    """The whole store's counts after about every CHECKPOINT_EVERY changes, summed in time order."""
    bind = op.get_bind()
    ch = _changes
    rows = bind.execute(
        sa.select(ch.c.recorded_us, ch.c.day, ch.c.type, ch.c.facts, ch.c.fatalities)
        .where(ch.c.actor_id == WHOLE_STORE)
        .order_by(ch.c.recorded_us)
    )
    counts: dict[tuple[int, str], list[int]] = {}
    since = 0
    # A checkpoint holds every change recorded by its time: it is taken where the time moves on.
    for taken_us, moves in itertools.groupby(rows, key=lambda row: row[0]):
        for _, day, kind, facts, fatalities in moves:
            tally = counts.setdefault((day, kind), [0, 0])
            tally[0] += facts
            tally[1] += fatalities
            since += 1
        if since >= CHECKPOINT_EVERY:
            since = 0
            held = [
                {"actor_id": WHOLE_STORE, "taken_us": taken_us, "day": d, "type": t, "facts": f, "fatalities": n}
                for (d, t), (f, n) in counts.items()
                if f
            ]
            if held:
                bind.execute(_checkpoints.insert(), held)


def upgrade() -> None:
    _create_tables()
    _backfill()
    _backfill_checkpoints()


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
