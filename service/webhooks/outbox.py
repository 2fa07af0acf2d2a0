"""The webhook projection: one outbox message per (subscription, change), exactly once.

It follows the log with its own tracked position (moved in the same
transaction as the messages), and evaluates each subscription's filters
against the fact as it stands after the change being delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from service.domain.aggregates import CHANGE_KINDS, Fact
from service.domain.facts import stored_view
from service.domain.instants import format_instant, text_to_micros
from service.domain.revisions import KIND_RECORDED, STATUS_ACTIVE
from service.domain.webhooks import MESSAGE_TYPES, matches, message_body, message_id
from service.store.application import TimelineApplication
from service.store.sql import dialect_insert
from service.webhooks.tables import subscriptions, webhook_messages


def pending_message(sub: Any, position: int, kind: str, fact: dict[str, Any], recorded_at: str) -> dict[str, Any]:
    return {
        "id": message_id(sub.id, position),
        "subscription_id": sub.id,
        "position": position,
        "event_id": fact["event_id"],
        "type": MESSAGE_TYPES[kind],
        "fact_type": fact["type"],
        "recorded_us": text_to_micros(recorded_at),
        "body": message_body(kind, recorded_at, position, fact),
        "status": "pending",
        "attempts": 0,
        "next_attempt_us": 0,  # due at once
        "lease_until_us": None,
    }


class WebhookOutbox:
    name = "webhooks"
    rebuildable = False  # messages are a record of what was sent; a rebuild would send it all again

    def __init__(self, store: TimelineApplication):
        self.store = store
        self.wrote_messages = False  # by the last apply: whether a dispatcher has anything new

    def apply(self, conn: Connection, events: Iterable[tuple[int, Any]]) -> None:
        self.wrote_messages = False
        subs = conn.execute(
            select(subscriptions).where(subscriptions.c.status.in_(("active", "paused")))
        ).all()
        if not subs:
            return
        rows = []
        for position, event in events:
            if not isinstance(event, Fact.Event):
                continue
            kind, fact, recorded_at = self._change(position, event)
            for sub in subs:
                if position > sub.start_position and matches(sub.types, sub.actors, fact):
                    rows.append(pending_message(sub, position, kind, fact, recorded_at))
        if rows:
            conn.execute(
                dialect_insert(conn, webhook_messages).on_conflict_do_nothing(
                    index_elements=["subscription_id", "position"]
                ),
                rows,
            )
            self.wrote_messages = True

    def reset(self, conn: Connection) -> None:
        raise NotImplementedError("the webhook outbox is not rebuilt; replay a subscription instead")

    def _change(self, position: int, event: Any) -> tuple[str, dict[str, Any], str]:
        """(kind, the fact right after this change, the change's recorded_at)."""
        recorded_at = format_instant(event.timestamp)
        if isinstance(event, Fact.Created):
            fact = stored_view(event.record, recorded_at=recorded_at, position=position, revision=1, status=STATUS_ACTIVE)
            return KIND_RECORDED, fact, recorded_at
        event_id = str(event.originator_id)
        aggregate = self.store.repository.get(event.originator_id, version=event.originator_version)
        fact = stored_view(
            aggregate.record,
            recorded_at=format_instant(aggregate.created_on),
            position=self.store.first_position(event_id),
            revision=aggregate.version,
            status=aggregate.status,
        )
        return CHANGE_KINDS[type(event)], fact, recorded_at
