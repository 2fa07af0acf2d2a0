"""Delivers outbox messages at least once: signed, retried with backoff, logged.

Dispatchers share the outbox through leases: a claim marks messages as being
delivered until a deadline (taken with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so several dispatcher processes never attempt one message at
once, and a crashed dispatcher's messages become due again when its lease ends.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, and_, insert, or_, select, true, update
from standardwebhooks.webhooks import Webhook

from service.domain.webhooks import parse_retry_after, retry_delay
from service.readmodels.worker import MAX_BACKOFF
from service.store.backends import write_transaction
from service.store.failures import classify
from service.webhooks.guard import Pinned, UnsafeTargetError, pinned
from service.webhooks.tables import subscriptions, webhook_attempts, webhook_messages

log = logging.getLogger(__name__)

# A lease covers the message's turn in its subscription's queue plus this margin;
# a crashed dispatcher's messages are due again once it has passed.
LEASE_MARGIN_SECONDS = 10
CLAIM_LIMIT = 64
PER_SUBSCRIPTION = 32
EXCERPT = 300
REFUSED = "refused: "


def now_us() -> int:
    return time.time_ns() // 1000


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


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: float | None

    @property
    def kind(self) -> str:
        """The attempt's outcome as metrics count it."""
        if self.error is None:
            return "delivered"
        if self.status_code == 410:
            return "gone"
        if self.status_code is not None:
            return "http_error"
        return "refused" if self.error.startswith(REFUSED) else "transport_error"


def signature(claimed: Claimed, timestamp: datetime, at_us: int) -> str:
    """``v1,<sig>`` with the current secret, and with the previous one while it still signs."""
    signatures = [Webhook(claimed.secret).sign(claimed.id, timestamp, claimed.body)]
    if claimed.previous_secret and (claimed.previous_secret_until_us or 0) > at_us:
        signatures.append(Webhook(claimed.previous_secret).sign(claimed.id, timestamp, claimed.body))
    return " ".join(signatures)


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        *,
        schedule: list[float],
        timeout: float,
        allow_hosts: str,
        concurrency: int = 32,
        poll_interval: float = 0.5,
    ):
        self.engine = engine
        self.schedule = schedule
        self.timeout = timeout
        self.allow_hosts = allow_hosts
        self.poll_interval = poll_interval
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_connections=concurrency * 2)
        )
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self.concurrency = concurrency
        self.wake_event = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy: set[str] = set()  # subscriptions with deliveries in flight here
        self._busy_lock = threading.Lock()
        self.on_outcome: list[Callable[[str, Outcome], None]] = []

    # --- one round --------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim what is due, deliver it, record the outcomes; returns how many were attempted.

        Subscriptions are served in parallel; each one's messages one after
        another in log order, so a subscriber sees first attempts in order and
        a slow one holds up only itself.
        """
        claimed = self.claim()
        list(self.pool.map(self._deliver_in_order, _queues(claimed)))
        return len(claimed)

    def _deliver_in_order(self, queue: list[Claimed]) -> None:
        for index, message in enumerate(queue):
            outcome = self.deliver(message)
            if outcome.error is not None and index + 1 < len(queue):
                # The subscriber is failing: hand the rest back rather than spend a
                # timeout on each; they are claimed again, in order, next round.
                self._release(queue[index + 1:])
                return

    def _release(self, messages: list[Claimed]) -> None:
        m = webhook_messages
        with write_transaction(self.engine) as conn:
            for message in messages:
                conn.execute(
                    update(m)
                    .where(m.c.id == message.id, m.c.lease_until_us == message.lease_until_us)
                    .values(lease_until_us=None)
                )

    def claim(self, busy: frozenset[str] = frozenset(), room: int = CLAIM_LIMIT) -> list[Claimed]:
        """Lease the due messages of at most ``room`` subscriptions not in ``busy``."""
        at = now_us()
        m, s = webhook_messages, subscriptions
        query = (
            select(m.c.id, m.c.subscription_id, m.c.position, m.c.body, m.c.attempts, s.c.url, s.c.secret,
                   s.c.previous_secret, s.c.previous_secret_until_us)
            .join(s, s.c.id == m.c.subscription_id)
            .where(
                m.c.status == "pending",
                s.c.status == "active",
                m.c.next_attempt_us <= at,
                or_(m.c.lease_until_us.is_(None), m.c.lease_until_us < at),
                m.c.subscription_id.notin_(busy) if busy else true(),
            )
            .order_by(m.c.position)
            .limit(CLAIM_LIMIT)
        )
        with write_transaction(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=m, skip_locked=True)
            rows = self._in_order(conn, conn.execute(query).all())
            turns: dict[str, int] = defaultdict(int)
            claimed = []
            for r in rows:
                if r.subscription_id not in turns and len(turns) >= room:
                    continue
                turn = turns[r.subscription_id] = turns[r.subscription_id] + 1
                if turn > PER_SUBSCRIPTION:
                    continue
                lease_until = at + int((turn * self.timeout + LEASE_MARGIN_SECONDS) * 1_000_000)
                conn.execute(update(m).where(m.c.id == r.id).values(lease_until_us=lease_until))
                claimed.append(
                    Claimed(r.id, r.subscription_id, r.position, r.body, r.attempts, lease_until, r.url,
                            r.secret, r.previous_secret, r.previous_secret_until_us)
                )
        return claimed

    @staticmethod
    def _in_order(conn: Any, rows: list[Any]) -> list[Any]:
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
            earliest = conn.execute(
                select(m.c.position)
                .where(m.c.subscription_id == subscription_id, m.c.status == "pending", m.c.attempts == 0)
                .order_by(m.c.position)
                .limit(len(candidates))
            ).scalars().all()
            for candidate, expected in zip(candidates, earliest, strict=False):
                if candidate.position != expected:
                    break
                kept.append(candidate)
        kept.sort(key=lambda r: r.position)
        return kept

    def deliver(self, claimed: Claimed) -> Outcome:
        outcome = self._attempt(claimed)
        try:
            self._record(claimed, outcome)
        except Exception:
            log.exception("could not record the attempt of %s; its lease will expire and it will be retried", claimed.id)
        for listener in self.on_outcome:
            listener(claimed.id, outcome)
        return outcome

    def _attempt(self, claimed: Claimed) -> Outcome:
        started = time.monotonic()
        try:
            targets = pinned(claimed.url, self.allow_hosts)
            at = datetime.now(UTC)
            headers = {
                "content-type": "application/json",
                "webhook-id": claimed.id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": signature(claimed, at, now_us()),
                "user-agent": "crisis-timeline-webhooks/1",
            }
            response = self._post(claimed, targets, headers)
        except UnsafeTargetError as exc:
            return Outcome(None, _ms(started), f"{REFUSED}{exc}"[:EXCERPT], None)
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), f"{type(exc).__name__}: {exc}"[:EXCERPT], None)
        error = None
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}: {response.text[:EXCERPT]}"
        return Outcome(
            response.status_code,
            _ms(started),
            error,
            parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
        )

    def _post(self, claimed: Claimed, targets: list[Pinned], headers: dict[str, str]) -> httpx.Response:
        """POST to the checked addresses in turn (the next only if one cannot be reached)."""
        body = claimed.body.encode()
        if not targets:  # a host the allow-list names: connect as the URL says
            return self.client.post(claimed.url, content=body, headers=headers)
        for target in targets[:-1]:
            try:
                return self._post_to(target, body, headers)
            except httpx.ConnectError:
                continue
        return self._post_to(targets[-1], body, headers)

    def _post_to(self, target: Pinned, body: bytes, headers: dict[str, str]) -> httpx.Response:
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        return self.client.post(target.url, content=body, headers={**headers, "host": target.host}, extensions=extensions)

    def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        m = webhook_messages
        attempts = claimed.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until_us": None}
        gone = outcome.status_code == 410
        if outcome.error is None:
            values["status"] = "delivered"
        elif gone:
            values["status"] = "failed"
        else:
            delay = retry_delay(self.schedule, attempts, random.uniform(-1, 1), outcome.retry_after)  # noqa: S311
            if delay is None:
                values["status"] = "failed"
            else:
                values["next_attempt_us"] = now_us() + int(delay * 1_000_000)
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(webhook_attempts).values(
                    message_id=claimed.id, at_us=now_us(), status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms, error=outcome.error,
                )
            )
            # Only while our lease holds: after it ran out the message is someone else's.
            conn.execute(
                update(m)
                .where(and_(m.c.id == claimed.id, m.c.lease_until_us == claimed.lease_until_us))
                .values(**values)
            )
            if gone:
                conn.execute(
                    update(subscriptions)
                    .where(subscriptions.c.id == claimed.subscription_id)
                    .values(status="disabled", disabled_reason="the receiver answered 410 Gone")
                )

    # --- running in the background ---------------------------------------------------

    def wake(self, *_: object) -> None:
        self.wake_event.set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run_forever, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wake_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.pool.shutdown(wait=True)
        self.client.close()

    def run_forever(self) -> None:
        """Keep every free delivery slot busy; a slow subscriber occupies one slot only."""
        backoff = 0.1
        while not self._stop.is_set():
            self.wake_event.clear()
            with self._busy_lock:
                busy = frozenset(self._busy)
            room = self.concurrency - len(busy)
            try:
                claimed = self.claim(busy, room) if room > 0 else []
            except Exception as exc:
                if classify(exc) is None:
                    log.exception("webhook dispatch failed; retrying in %.1fs", backoff)
                else:  # expected while the database is down: no traceback every few seconds
                    log.warning("webhook dispatch: database unavailable (%s); retrying in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 0.1
            for queue in _queues(claimed):
                with self._busy_lock:
                    self._busy.add(queue[0].subscription_id)
                self.pool.submit(self._serve_queue, queue)
            if not claimed:
                self.wake_event.wait(self.poll_interval)

    def _serve_queue(self, queue: list[Claimed]) -> None:
        try:
            self._deliver_in_order(queue)
        finally:
            with self._busy_lock:
                self._busy.discard(queue[0].subscription_id)
            self.wake()


def _queues(claimed: list[Claimed]) -> list[list[Claimed]]:
    """Claimed messages grouped by subscription, each group in log order."""
    queues: dict[str, list[Claimed]] = defaultdict(list)
    for message in claimed:
        queues[message.subscription_id].append(message)
    return list(queues.values())


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
