"""Checkpoints of the state fold: ``fold_blocks`` (service.readmodels.checkpoints).

The blocks of a store that has facts already are built here from its ``fact_actors`` rows
by the projection's own builder, each actor's versions starting at its latest change: a read
``as_of`` an earlier time finds no block and folds the rows, exactly as before. The builder
is imported rather than copied, so this migration writes the table as the code declares it.

Upgrading: stop every process of the older release that runs the projections (``serve``,
``worker``) before running it. One would go on projecting facts into ``fact_actors`` without
re-versioning their blocks, and the new release's reads would miss those facts.
It runs in the migration's one transaction, in time proportional to the store's rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fold_blocks",
        sa.Column("actor_id", sa.String(80), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("start_occurred_us", sa.BigInteger, primary_key=True),
        sa.Column("start_position", sa.BigInteger, primary_key=True),
        sa.Column("recorded_us", sa.BigInteger, primary_key=True),
        sa.Column("end_occurred_us", sa.BigInteger, nullable=False),
        sa.Column("end_position", sa.BigInteger, nullable=False),
        sa.Column("superseded_us", sa.BigInteger, nullable=True),
        sa.Column("fact_count", sa.Integer, nullable=False),
        sa.Column("max_reported_us", sa.BigInteger, nullable=True),
        sa.Column("min_reported_us", sa.BigInteger, nullable=True),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_fold_blocks_current",
        "fold_blocks",
        ["actor_id", "level", "superseded_us", "start_occurred_us", "start_position"],
    )
    from service.readmodels.checkpoints import backfill

    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_fold_blocks_current", table_name="fold_blocks")
    op.drop_table("fold_blocks")
