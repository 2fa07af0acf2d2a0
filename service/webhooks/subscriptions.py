"""Managing subscriptions: create, read, change, delete, rotate secrets, list deliveries, replay."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update

from service.domain.errors import InvalidInputError, NotFoundError
from service.domain.instants import Clock, micros_to_text, now_us, to_micros
from service.domain.webhooks import (
    MESSAGE_PENDING,
    ROTATION_OVERLAP_SECONDS,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_DELETED,
    SUBSCRIPTION_DISABLED,
    SUBSCRIPTION_PAUSED,
    SubscriptionChange,
    matches,
    normalised_filters,
    secret_from,
)
from service.readmodels.paging import decode_cursor, encode_cursor
from service.readmodels.queries import fact_view
from service.readmodels.tables import fact_revisions
from service.store.sql import write_transaction
from service.webhooks.guard import Resolve, UnsafeTargetError, check_target, system_resolve
from service.webhooks.outbox import insert_messages, pending_message
from service.webhooks.tables import subscriptions, webhook_attempts, webhook_messages

VISIBLE = (SUBSCRIPTION_ACTIVE, SUBSCRIPTION_PAUSED, SUBSCRIPTION_DISABLED)


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "types": row.types,
        "actors": row.actors,
        "description": row.description,
        "status": row.status,
        "created_at": micros_to_text(row.created_us),
        "start_position": row.start_position,
        "disabled_reason": row.disabled_reason,
    }


class Subscriptions:
    def __init__(
        self,
        engine: Engine,
        allow_hosts: str,
        head: Callable[[], int],
        *,
        clock: Clock,
        resolve: Resolve = system_resolve,
    ):
        self.engine = engine
        self.resolve = resolve
        self.clock = clock
        self.allow_hosts = allow_hosts
        self.head = head  # () -> the store's last position

    def _check_url(self, url: str) -> None:
        try:
            check_target(url, self.allow_hosts, self.resolve)
        except UnsafeTargetError as exc:
            raise InvalidInputError(str(exc), errors=[{"field": "url", "message": str(exc)}]) from None

    def create(
        self, url: str, *, types: Sequence[str] = (), actors: Sequence[str] = (), description: str | None = None
    ) -> dict[str, Any]:
        self._check_url(url)
        types, actors = normalised_filters(list(types), list(actors))
        row = {
            "id": str(uuid.uuid4()),
            "url": url,
            "types": types,
            "actors": actors,
            "description": description,
            "status": SUBSCRIPTION_ACTIVE,
            "secret": secret_from(os.urandom(24)),
            "previous_secret": None,
            "previous_secret_until_us": None,
            "start_position": self.head(),
            "created_us": now_us(self.clock),
            "disabled_reason": None,
        }
        with write_transaction(self.engine) as conn:
            conn.execute(subscriptions.insert().values(**row))
            stored = conn.execute(select(subscriptions).where(subscriptions.c.id == row["id"])).one()
        return {**_public(stored), "secret": row["secret"]}

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(subscriptions).where(subscriptions.c.status.in_(VISIBLE)).order_by(subscriptions.c.created_us)
            ).all()
        return [_public(r) for r in rows]

    def _row(self, conn: Any, subscription_id: str) -> Any:
        row = conn.execute(
            select(subscriptions).where(subscriptions.c.id == subscription_id, subscriptions.c.status.in_(VISIBLE))
        ).first()
        if row is None:
            raise NotFoundError(f"no subscription {subscription_id}")
        return row

    def get(self, subscription_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return _public(self._row(conn, subscription_id))

    def update(self, subscription_id: str, patch: SubscriptionChange) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if patch.url is not None:
            self._check_url(patch.url)
            values["url"] = patch.url
        if patch.types is not None:
            values["types"] = normalised_filters(list(patch.types), [])[0]
        if patch.actors is not None:
            values["actors"] = normalised_filters([], list(patch.actors))[1]
        if patch.description is not None:
            values["description"] = patch.description
        if patch.status is not None:
            values["status"] = patch.status
            values["disabled_reason"] = None
        with write_transaction(self.engine) as conn:
            self._row(conn, subscription_id)
            if values:
                conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values))
            return _public(self._row(conn, subscription_id))

    def delete(self, subscription_id: str) -> None:
        with write_transaction(self.engine) as conn:
            self._row(conn, subscription_id)
            conn.execute(
                update(subscriptions).where(subscriptions.c.id == subscription_id).values(status=SUBSCRIPTION_DELETED)
            )

    def rotate_secret(self, subscription_id: str) -> dict[str, Any]:
        secret = secret_from(os.urandom(24))
        overlap_until_us = now_us(self.clock) + ROTATION_OVERLAP_SECONDS * 1_000_000
        with write_transaction(self.engine) as conn:
            row = self._row(conn, subscription_id)
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription_id)
                .values(
                    secret=secret,
                    previous_secret=row.secret,
                    previous_secret_until_us=overlap_until_us,
                )
            )
        return {"secret": secret, "previous_secret_valid_until": micros_to_text(overlap_until_us)}

    def deliveries(self, subscription_id: str, status: str | None, cursor: str | None, limit: int) -> dict[str, Any]:
        m, a = webhook_messages, webhook_attempts
        after = decode_cursor(cursor, (int,))
        with self.engine.connect() as conn:
            self._row(conn, subscription_id)
            query = select(m).where(m.c.subscription_id == subscription_id)
            if status is not None:
                query = query.where(m.c.status == status)
            if after is not None:
                query = query.where(m.c.position > after[0])
            rows = conn.execute(query.order_by(m.c.position).limit(limit + 1)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
            if rows:
                for attempt in conn.execute(select(a).where(a.c.message_id.in_(list(attempts))).order_by(a.c.id)):
                    attempts[attempt.message_id].append(
                        {
                            "at": micros_to_text(attempt.at_us),
                            "status_code": attempt.status_code,
                            "latency_ms": attempt.latency_ms,
                            "error": attempt.error,
                        }
                    )
        items = [
            {
                "message_id": r.id,
                "position": r.position,
                "event_id": r.event_id,
                "type": r.type,
                "fact_type": r.fact_type,
                "status": r.status,
                "next_attempt_at": micros_to_text(r.next_attempt_us)
                if r.status == MESSAGE_PENDING and r.next_attempt_us
                else None,
                "attempts": attempts[r.id],
            }
            for r in rows
        ]
        return {"items": items, "next_cursor": encode_cursor([rows[-1].position]) if more else None}

    def replay(
        self, subscription_id: str, *, after: int | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        """Send again every change after a position (or recorded since a time) that passes the filters.

        Messages keep their ids; changes that had no message yet (before the
        subscription, or before a filter changed) get one. A message being
        delivered right now keeps its lease.
        """
        fr, m = fact_revisions, webhook_messages
        with write_transaction(self.engine) as conn:
            sub = self._row(conn, subscription_id)
            start = after
            if since is not None:
                start = conn.execute(
                    select(func.coalesce(func.min(fr.c.position) - 1, self.head())).where(
                        fr.c.recorded_us >= to_micros(since)
                    )
                ).scalar_one()
            rows = []
            for change in conn.execute(select(fr).where(fr.c.position > start).order_by(fr.c.position)):
                fact = fact_view(change)
                if matches(sub.types, sub.actors, fact):
                    rows.append(pending_message(sub, change, fact))
            if rows:
                insert_messages(conn, rows)
                ids = [row["id"] for row in rows]
                for chunk in range(0, len(ids), 500):
                    conn.execute(
                        update(m)
                        .where(m.c.id.in_(ids[chunk : chunk + 500]))
                        .values(status=MESSAGE_PENDING, attempts=0, next_attempt_us=0)
                    )
        return {"after": start, "messages": len(rows)}
