"""Read-model tables (SQLAlchemy Core). Their schema is owned by the migrations.

Times are integer microseconds since the Unix epoch (UTC), identical on SQLite
and PostgreSQL. Every fact revision keeps the interval of transaction time in
which it was the current one (``recorded_us`` until ``superseded_us``), so the
record as known at any ``as_of`` is read from indexes, not by replaying the log.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

fact_revisions = Table(
    "fact_revisions",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("revision", Integer, primary_key=True),
    # Position of the change that produced this revision.
    Column("position", BigInteger, nullable=False, unique=True),
    # Position at which the fact was first recorded: the tie-breaker of every ordering.
    Column("first_position", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("fact_recorded_us", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("reported_us", BigInteger, nullable=False),
    Column("superseded_us", BigInteger, nullable=True),
    Column("body", JSON, nullable=False),
    Column("reason", Text, nullable=True),
    Column("changes", JSON, nullable=True),
    Index("ix_fact_revisions_occurred", "occurred_us", "first_position"),
    Index("ix_fact_revisions_type_occurred", "type", "occurred_us", "first_position"),
    Index("ix_fact_revisions_recorded", "recorded_us"),
)

fact_actors = Table(
    "fact_actors",
    metadata,
    Column("actor_id", String(80), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("revision", Integer, primary_key=True),
    # The actor's roles in this revision, as ",role,role," so that one LIKE finds a role.
    Column("roles", String(200), nullable=False),
    Column("type", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("reported_us", BigInteger, nullable=False),
    Column("superseded_us", BigInteger, nullable=True),
    Index("ix_fact_actors_timeline", "actor_id", "occurred_us", "first_position"),
)

actors = Table(
    "actors",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(40), nullable=True),
    Column("parent", String(80), nullable=True),
    Column("aliases", JSON, nullable=False),
    Column("registered", Boolean, nullable=False),
    Column("first_position", BigInteger, nullable=False),
)

projection_positions = Table(
    "projection_positions",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

READ_MODEL_TABLES = (fact_revisions, fact_actors, actors)
