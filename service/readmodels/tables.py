"""Read-model tables (SQLAlchemy Core). Their schema is owned by the migrations.

Times are integer microseconds since the Unix epoch (UTC), identical on SQLite
and PostgreSQL. Each fact version carries the interval of transaction time and
of publication time over which it is what was known, so the record as known at
any ``as_of`` and ``reported_by`` is read from indexes, not by replaying the log.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from service.domain.text import MAX_SLUG, MAX_TEXT
from service.store.sql import metadata

fact_revisions = Table(
    "fact_revisions",
    metadata,
    # The change log: one row per revision of a fact (recorded, corrected, retracted).
    Column("event_id", String(36), primary_key=True),
    Column("revision", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("first_position", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("type", String(40), nullable=False),
    Column("fact_recorded_us", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("reported_us", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
    # What the change did: changed fields and added sources; the fact's record for revision 1.
    Column("changes", JSON, nullable=True),
    Column("added_sources", JSON, nullable=True),
    # The fact as it stood right after this change, and its status then.
    Column("status", String(16), nullable=False),
    Column("body", JSON, nullable=False),
)

fact_versions = Table(
    "fact_versions",
    metadata,
    # What was known of a fact over a rectangle of the two axes: transaction time
    # [recorded_us, superseded_us) and publication time [reported_from_us, reported_until_us).
    # Exactly one version of a known fact matches any (as_of, reported_by).
    Column("event_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("fact_recorded_us", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("superseded_us", BigInteger, nullable=True),
    Column("reported_from_us", BigInteger, nullable=False),
    Column("reported_until_us", BigInteger, nullable=True),
    Column("body", JSON, nullable=False),
    Index("ix_fact_versions_occurred", "occurred_us", "first_position"),
    Index("ix_fact_versions_type_occurred", "type", "occurred_us", "first_position"),
)

fact_actors = Table(
    "fact_actors",
    metadata,
    # One row per (actor, fact version): timelines and states read these by actor.
    Column("actor_id", String(MAX_SLUG), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    # The actor's roles in this version, as ",role,role," so that one LIKE finds a role.
    Column("roles", String(200), nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("superseded_us", BigInteger, nullable=True),
    Column("reported_from_us", BigInteger, nullable=False),
    Column("reported_until_us", BigInteger, nullable=True),
    # What the state fold reads of this version for this actor (replay.fold_input).
    Column("fold", JSON, nullable=True),
    Index("ix_fact_actors_timeline", "actor_id", "occurred_us", "first_position"),
    # A change closes the fact's open rows: found by fact, not by actor.
    Index("ix_fact_actors_event", "event_id", "version"),
)

actors = Table(
    "actors",
    metadata,
    Column("id", String(MAX_SLUG), primary_key=True),
    Column("name", String(MAX_TEXT), nullable=False),
    Column("kind", String(40), nullable=True),
    Column("parent", String(MAX_SLUG), nullable=True),
    Column("aliases", JSON, nullable=False),
    Column("registered", Boolean, nullable=False),
    Column("first_position", BigInteger, nullable=False),
)

fold_blocks = Table(
    "fold_blocks",
    metadata,
    # Checkpoints of the state fold (service.readmodels.checkpoints): one row per version of a
    # block of an actor's fact_actors rows, keys (occurred_us, first_position) in [start, end).
    Column("actor_id", String(MAX_SLUG), primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("start_occurred_us", BigInteger, primary_key=True),
    Column("start_position", BigInteger, primary_key=True),
    Column("recorded_us", BigInteger, primary_key=True),
    Column("end_occurred_us", BigInteger, nullable=False),
    Column("end_position", BigInteger, nullable=False),
    Column("superseded_us", BigInteger, nullable=True),
    Column("fact_count", Integer, nullable=False),
    # The latest publication time among the block's rows, as the view reported by R needs it.
    Column("max_reported_us", BigInteger, nullable=True),
    # The earliest: a block none of whose rows was published by R adds nothing to that view.
    Column("min_reported_us", BigInteger, nullable=True),
    Column("summary", JSON, nullable=False),
    # Current blocks (superseded_us NULL) and those superseded after an as_of, per level.
    Index("ix_fold_blocks_current", "actor_id", "level", "superseded_us", "start_occurred_us", "start_position"),
)

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def _day_count_table(name: str, *moment: Column[int]) -> Table:
    """Facts and fatalities per (actor, [moment,] UTC day, type)."""
    return Table(
        name,
        metadata,
        Column("actor_id", String(MAX_SLUG), primary_key=True),
        *moment,
        Column("day", Integer, primary_key=True),  # days since 0001-01-01, as the scan numbers them
        Column("type", String(40), primary_key=True),
        Column("facts", BigInteger, nullable=False),
        Column("fatalities", BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )


# The counts now: what /v1/stats adds up instead of scanning the facts. The actor WHOLE_STORE
# (service.readmodels.tallies) counts each fact once.
day_counts = _day_count_table("day_counts")
# How day_counts moved, by transaction time: the counts as of K are the sum up to K.
day_count_changes = _day_count_table("day_count_changes", Column("recorded_us", BigInteger, primary_key=True))
# The whole store's day_counts as of taken_us (every change recorded by then, even one applied
# later), taken every so many events: as_of starts from the nearest and reads the changes between.
day_count_checkpoints = _day_count_table("day_count_checkpoints", Column("taken_us", BigInteger, primary_key=True))

actor_totals = Table(
    "actor_totals",
    metadata,
    # Each actor's active facts now, and the first and last time they occurred (/v1/actors).
    Column("actor_id", String(MAX_SLUG), primary_key=True),
    Column("facts", BigInteger, nullable=False),
    Column("first_us", BigInteger, nullable=True),
    Column("last_us", BigInteger, nullable=True),
)

READ_MODEL_TABLES = (
    fact_revisions,
    fact_versions,
    fact_actors,
    actors,
    day_counts,
    day_count_changes,
    actor_totals,
    day_count_checkpoints,
    fold_blocks,
)
