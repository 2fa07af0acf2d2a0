"""The webhook projection: one outbox message per (subscription, change), exactly once.

It follows the log with its own tracked position (moved in the same
transaction as the messages), never past the read models' position: each
change's message carries the fact as it stood right after that change, which
the read-model projection has computed once and kept in ``fact_revisions``.
Replaying a subscription reads the same rows, so a replayed message is the
message first sent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from service.domain.instants import micros_to_text
from service.domain.webhooks import (
    MESSAGE_PENDING,
    MESSAGE_TYPES,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_PAUSED,
    matches,
    message_body,
    message_id,
)
from service.readmodels.projection import ReadModelProjection
from service.readmodels.queries import fact_view
from service.readmodels.tables import fact_revisions
from service.readmodels.worker import DecodedEvents
from service.store.sql import dialect_insert
from service.webhooks.tables import subscriptions, webhook_messages

# Subscriptions whose changes become messages; a paused one's wait for it to resume.
COLLECTING = (SUBSCRIPTION_ACTIVE, SUBSCRIPTION_PAUSED)


def pending_message(sub: Any, change: Any, fact: dict[str, Any]) -> dict[str, Any]:
    """The message telling ``sub`` of one ``fact_revisions`` row; ``fact`` is the row's fact_view."""
    recorded_at = micros_to_text(change.recorded_us) or ""
    return {
        "id": message_id(sub.id, change.position),
        "subscription_id": sub.id,
        "position": change.position,
        "event_id": fact["event_id"],
        "type": MESSAGE_TYPES[change.kind],
        "fact_type": fact["type"],
        "recorded_us": change.recorded_us,
        "body": message_body(change.kind, recorded_at, change.position, fact),
        "status": MESSAGE_PENDING,
        "attempts": 0,
        "next_attempt_us": 0,  # due at once
        "lease_until_us": None,
    }


def insert_messages(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add messages; one a (subscription, change) has already keeps its id and its state."""
    conn.execute(
        dialect_insert(conn, webhook_messages).on_conflict_do_nothing(index_elements=["subscription_id", "position"]),
        rows,
    )


class WebhookOutbox:
    name = "webhooks"
    rebuildable = False  # messages are a record of what was sent; a rebuild would send it all again
    follows: str | None = ReadModelProjection.name  # reads the changes that projection has applied

    def __init__(self) -> None:
        self.wrote_messages = False  # by the last apply: whether a dispatcher has anything new

    def apply(self, conn: Connection, events: DecodedEvents) -> None:
        self.wrote_messages = False
        subs = conn.execute(select(subscriptions).where(subscriptions.c.status.in_(COLLECTING))).all()
        if not subs or not len(events):
            return
        first, last = events.span
        fr = fact_revisions
        changes = conn.execute(
            select(fr).where(fr.c.position >= first, fr.c.position <= last).order_by(fr.c.position)
        ).all()
        rows = []
        for change in changes:
            fact = fact_view(change)
            for sub in subs:
                if change.position > sub.start_position and matches(sub.types, sub.actors, fact):
                    rows.append(pending_message(sub, change, fact))
        if rows:
            insert_messages(conn, rows)
            self.wrote_messages = True

    def reset(self, conn: Connection) -> None:
        raise NotImplementedError("the webhook outbox is not rebuilt; replay a subscription instead")
