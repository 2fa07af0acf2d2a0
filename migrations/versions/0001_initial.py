"""Event store, read models and projection positions.

The event store table is the one the ``eventsourcing`` 9.5 recorders expect
(their own DDL, frozen here), so that no process creates tables at run time.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The recorder inserts a batch as an array of this composite type.
        op.execute(
            "CREATE TYPE stored_event_uuid AS (originator_id uuid, originator_version bigint, topic text, state bytea)"
        )
        op.execute(
            "CREATE TABLE stored_events ("
            "originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, "
            "topic text, "
            "state bytea, "
            "notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version)) "
            "WITH (autovacuum_enabled = true, autovacuum_vacuum_threshold = 100000000, "
            "autovacuum_vacuum_scale_factor = 0.5, autovacuum_analyze_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.01)"
        )
        op.execute("CREATE UNIQUE INDEX stored_events_notification_id_idx ON stored_events (notification_id ASC)")
    else:
        # SQLite: the rowid is the notification id.
        op.execute(
            "CREATE TABLE stored_events ("
            "originator_id TEXT, "
            "originator_version INTEGER, "
            "topic TEXT, "
            "state BLOB, "
            "PRIMARY KEY (originator_id, originator_version))"
        )

    op.create_table(
        "fact_revisions",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False, unique=True),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("fact_recorded_us", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("reported_us", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("changes", sa.JSON, nullable=True),
        sa.Column("added_sources", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
    )

    op.create_table(
        "fact_versions",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_us", sa.BigInteger, nullable=False),
        sa.Column("fact_recorded_us", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("superseded_us", sa.BigInteger, nullable=True),
        sa.Column("reported_from_us", sa.BigInteger, nullable=False),
        sa.Column("reported_until_us", sa.BigInteger, nullable=True),
        sa.Column("body", sa.JSON, nullable=False),
    )
    op.create_index("ix_fact_versions_occurred", "fact_versions", ["occurred_us", "first_position"])
    op.create_index("ix_fact_versions_type_occurred", "fact_versions", ["type", "occurred_us", "first_position"])

    op.create_table(
        "fact_actors",
        sa.Column("actor_id", sa.String(80), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_us", sa.BigInteger, nullable=False),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("superseded_us", sa.BigInteger, nullable=True),
        sa.Column("reported_from_us", sa.BigInteger, nullable=False),
        sa.Column("reported_until_us", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_fact_actors_timeline", "fact_actors", ["actor_id", "occurred_us", "first_position"])
    op.create_index("ix_fact_actors_event", "fact_actors", ["event_id", "version"])

    op.create_table(
        "actors",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(40), nullable=True),
        sa.Column("parent", sa.String(80), nullable=True),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("registered", sa.Boolean, nullable=False),
        sa.Column("first_position", sa.BigInteger, nullable=False),
    )

    op.create_table(
        "projection_positions",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("projection_positions", "actors", "fact_actors", "fact_versions", "fact_revisions"):
        op.drop_table(table)
    op.execute("DROP TABLE stored_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE stored_event_uuid")
