"""Claims and leases: which outbox messages a dispatcher takes, and for how long.

Dispatchers share the outbox through leases: a claim marks messages as being
delivered until a deadline (taken with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, under SQLite's write lock there), so several dispatcher processes
never attempt one message at once, and a crashed dispatcher's messages become
due again when its lease ends.

An attempt, from the address check to the last byte of the reply's excerpt,
ends within the webhook timeout (service.webhooks.exchange), give or take
``ATTEMPT_OVERRUN_SECONDS``. A lease covers every attempt it was taken for: the
n-th message of a claimed queue is leased for n timeouts plus a margin, and an
attempt starts only while its whole bound fits in what is left of its lease
(``lease_covers``); otherwise the dispatcher hands the rest of the queue back.
So no other dispatcher can claim a message while an attempt of it may still
be running.

Per subscription, first attempts follow log position (``_in_order``); a claim
takes a subscription's messages as one queue, delivered one after another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, case, exists, func, or_, select, true, update

from service.domain.webhooks import MESSAGE_PENDING, SUBSCRIPTION_ACTIVE
from service.store.sql import write_transaction
from service.webhooks.tables import subscriptions, webhook_messages

# A lease covers the message's turn in its subscription's queue plus this margin;
# a crashed dispatcher's messages are due again once it has passed.
LEASE_MARGIN_SECONDS = 10
# How far past the timeout an attempt can still run: the loop noticing the deadline,
# closing the connection, the delivery thread waking up. Well below the margin.
ATTEMPT_OVERRUN_SECONDS = 1
CLAIM_LIMIT = 64  # subscriptions per claim
PER_SUBSCRIPTION = 32  # messages per subscription per claim
NEVER = 2**62  # a time after any other, in microseconds


def lease_until_us(claimed_at_us: int, turn: int, timeout: float) -> int:
    """The lease of the ``turn``-th message of a queue claimed at ``claimed_at_us``."""
    return claimed_at_us + int((turn * timeout + LEASE_MARGIN_SECONDS) * 1_000_000)


def lease_covers(lease_until: int, at_us: int, timeout: float) -> bool:
    """Whether an attempt starting at ``at_us`` ends, whatever happens, before the lease does."""
    return at_us + int((timeout + ATTEMPT_OVERRUN_SECONDS) * 1_000_000) <= lease_until


def reserved_slots(concurrency: int) -> int:
    """Slots that failing subscriptions leave free for the others (none with fewer than 4)."""
    return concurrency // 4


@dataclass(frozen=True)
class Claimed:
    id: str
    subscription_id: str
    position: int
    body: str
    attempts: int
    lease_until_us: int
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until_us: int | None


def claim(engine: Engine, at: int, timeout: float, busy: frozenset[str], room: int, keep_free: int) -> list[Claimed]:
    """Lease the messages due at ``at`` (microseconds) of at most ``room`` subscriptions not in ``busy``.

    Subscriptions that are not failing come first, in log order, then failing
    ones (a message of theirs waits for a retry), the longest-due retry first,
    but only as long as ``keep_free`` of the ``room`` stay free.
    """
    with write_transaction(engine) as conn:
        claimed = []
        for subscription_id in _pick(conn, at, busy, room, keep_free):
            rows = _in_order(conn, conn.execute(_due(conn, at, subscription_id)).all())
            for turn, r in enumerate(rows, start=1):
                lease_until = lease_until_us(at, turn, timeout)
                conn.execute(
                    update(webhook_messages).where(webhook_messages.c.id == r.id).values(lease_until_us=lease_until)
                )
                claimed.append(
                    Claimed(
                        r.id,
                        r.subscription_id,
                        r.position,
                        r.body,
                        r.attempts,
                        lease_until,
                        r.url,
                        r.secret,
                        r.previous_secret,
                        r.previous_secret_until_us,
                    )
                )
    return claimed


def _pick(conn: Any, at: int, busy: frozenset[str], room: int, keep_free: int) -> list[str]:
    """The subscriptions to serve."""
    m, s = webhook_messages, subscriptions
    tried = webhook_messages.alias("tried")
    failing = (
        exists()
        .where(tried.c.subscription_id == m.c.subscription_id, tried.c.status == MESSAGE_PENDING, tried.c.attempts > 0)
        .label("failing")
    )
    retry_due = case((m.c.attempts > 0, m.c.next_attempt_us), else_=NEVER)
    rows = conn.execute(
        select(
            m.c.subscription_id, failing, func.min(retry_due).label("retry_due"), func.min(m.c.position).label("first")
        )
        .join(s, s.c.id == m.c.subscription_id)
        .where(*_due_now(at), m.c.subscription_id.notin_(busy) if busy else true())
        .group_by(m.c.subscription_id)
        # Failing ones by how long a retry of theirs has been due, so that each gets its
        # turn; a tie on log position would hand the few slots to the same ones again.
        .order_by("failing", "retry_due", "first")
        .limit(min(room, CLAIM_LIMIT))
    ).all()
    picked = [r.subscription_id for r in rows if not r.failing]
    picked += [r.subscription_id for r in rows if r.failing][: max(room - keep_free - len(picked), 0)]
    return picked


def _due(conn: Any, at: int, subscription_id: str) -> Any:
    """The subscription's due, unleased messages, in log order, as many as one claim takes."""
    m, s = webhook_messages, subscriptions
    query = (
        select(
            m.c.id,
            m.c.subscription_id,
            m.c.position,
            m.c.body,
            m.c.attempts,
            s.c.url,
            s.c.secret,
            s.c.previous_secret,
            s.c.previous_secret_until_us,
        )
        .join(s, s.c.id == m.c.subscription_id)
        .where(m.c.subscription_id == subscription_id, *_due_now(at))
        .order_by(m.c.position)
        .limit(PER_SUBSCRIPTION)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=m, skip_locked=True)
    return query


def _in_order(conn: Any, rows: Sequence[Any]) -> list[Any]:
    """Drop first attempts that would overtake an earlier, never-attempted message.

    Per subscription, first attempts follow log position: a message not yet
    tried goes only if every earlier untried message of its subscription
    goes in this claim too.
    """
    untried: dict[str, list[Any]] = defaultdict(list)
    kept = []
    for row in rows:
        if row.attempts:
            kept.append(row)
        else:
            untried[row.subscription_id].append(row)
    m = webhook_messages
    for subscription_id, candidates in untried.items():
        earliest = (
            conn.execute(
                select(m.c.position)
                .where(m.c.subscription_id == subscription_id, m.c.status == MESSAGE_PENDING, m.c.attempts == 0)
                .order_by(m.c.position)
                .limit(len(candidates))
            )
            .scalars()
            .all()
        )
        for candidate, expected in zip(candidates, earliest, strict=False):
            if candidate.position != expected:
                break
            kept.append(candidate)
    kept.sort(key=lambda r: r.position)
    return kept


def release(engine: Engine, messages: list[Claimed]) -> None:
    """Hand leased messages back: due again at once, to whoever claims next."""
    m = webhook_messages
    with write_transaction(engine) as conn:
        for message in messages:
            conn.execute(
                update(m)
                .where(m.c.id == message.id, m.c.lease_until_us == message.lease_until_us)
                .values(lease_until_us=None)
            )


def _due_now(at: int) -> tuple[Any, ...]:
    """Pending messages of active subscriptions, due by ``at`` and leased to no one."""
    m, s = webhook_messages, subscriptions
    return (
        m.c.status == MESSAGE_PENDING,
        s.c.status == SUBSCRIPTION_ACTIVE,
        m.c.next_attempt_us <= at,
        or_(m.c.lease_until_us.is_(None), m.c.lease_until_us < at),
    )
