"""Webhook subscriptions, outbox messages and delivery attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("types", sa.JSON, nullable=False),
        sa.Column("actors", sa.JSON, nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until_us", sa.BigInteger, nullable=True),
        sa.Column("start_position", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("disabled_reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("fact_type", sa.String(40), nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=True),
        sa.Column("lease_until_us", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("subscription_id", "position", name="uq_webhook_messages_subscription_position"),
    )
    op.create_index("ix_webhook_messages_due", "webhook_messages", ["status", "next_attempt_us"])
    op.create_index(
        "ix_webhook_messages_queue", "webhook_messages", ["subscription_id", "status", "attempts", "position"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("error", sa.String(1000), nullable=True),
    )
    op.create_index("ix_webhook_attempts_message", "webhook_attempts", ["message_id", "id"])


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_messages", "subscriptions"):
        op.drop_table(table)
