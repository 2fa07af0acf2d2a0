"""What folding each (actor, fact version) into the actor's state reads.

``fact_actors.fold`` holds the few fields of the fact that the state fold uses
for that actor (``service.domain.replay.fold_input``), so that the state at a
date is folded from the actor's own rows without reading whole facts. The rows
already projected have no value for it: the read models are emptied and their
projection starts again from the beginning of the log (as ``rebuild-projections``
does), which the service does by itself once it runs. The webhook outbox is
left as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

READ_MODEL_TABLES = ("fact_actors", "fact_versions", "fact_revisions", "actors")


def _restart_read_models() -> None:
    for table in READ_MODEL_TABLES:
        op.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
    op.execute("UPDATE projection_positions SET position = 0 WHERE name = 'read_models'")


def upgrade() -> None:
    op.add_column("fact_actors", sa.Column("fold", sa.JSON, nullable=True))
    _restart_read_models()


def downgrade() -> None:
    with op.batch_alter_table("fact_actors") as batch:
        batch.drop_column("fold")
    _restart_read_models()
