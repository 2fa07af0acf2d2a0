"""Webhook tables: subscriptions, the outbox of messages, and every delivery attempt."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from service.store.sql import metadata

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("types", JSON, nullable=False),
    Column("actors", JSON, nullable=False),
    Column("description", String(500), nullable=True),
    Column("status", String(16), nullable=False),  # active | paused | disabled | deleted
    Column("secret", String(100), nullable=False),
    # The secret before the last rotation keeps signing until this time.
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_until_us", BigInteger, nullable=True),
    # Changes after this position are delivered; earlier ones only on replay.
    Column("start_position", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("disabled_reason", String(500), nullable=True),
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    # One message per (subscription, change): its id is the webhook-id of every attempt.
    Column("id", String(40), primary_key=True),
    Column("subscription_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(32), nullable=False),
    Column("fact_type", String(40), nullable=False),
    Column("recorded_us", BigInteger, nullable=False),
    Column("body", Text, nullable=False),  # the exact bytes signed and sent
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_us", BigInteger, nullable=True),
    Column("lease_until_us", BigInteger, nullable=True),
    UniqueConstraint("subscription_id", "position", name="uq_webhook_messages_subscription_position"),
    Index("ix_webhook_messages_due", "status", "next_attempt_us"),
    # A subscription's untried messages in log order (delivery order, deliveries list).
    Index("ix_webhook_messages_queue", "subscription_id", "status", "attempts", "position"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(1000), nullable=True),
    Index("ix_webhook_attempts_message", "message_id", "id"),
)
