"""Delivers outbox messages at least once: signed, retried with backoff, logged.

Messages are claimed and leased as service.webhooks.claims says; each attempt's
HTTP exchange is bounded as a whole by the timeout (service.webhooks.exchange).

Delivery slots (``concurrency``) are shared so that slow subscribers delay only
themselves. A subscription holds at most one slot per dispatcher, for one
attempt's bound at a time. A subscription that is failing (a message of it is
waiting for a retry, which includes attempts cut off at the timeout) may take a
slot only while a quarter of the slots (``reserved_slots``) stay free after it,
and subscriptions that are not failing are claimed first. Hanging subscribers
delay one that answers only while their first attempts show them to be slow
(a timeout per slot-full of them); afterwards it always finds a free slot.
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
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine, and_, insert, update
from standardwebhooks.webhooks import Webhook

from service.background import BackgroundLoop
from service.domain.instants import Clock, now_us, to_micros
from service.domain.webhooks import (
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    SUBSCRIPTION_DISABLED,
    parse_retry_after,
    retry_delay,
)
from service.store.failures import classify
from service.store.sql import write_transaction
from service.webhooks.claims import CLAIM_LIMIT, Claimed, claim, lease_covers, release, reserved_slots
from service.webhooks.exchange import EXCERPT, Exchanges
from service.webhooks.guard import Resolve, UnsafeTargetError, pinned, system_resolve
from service.webhooks.tables import subscriptions, webhook_attempts, webhook_messages

log = logging.getLogger(__name__)

REFUSED = "refused: "
TIMED_OUT = "timed out: "


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
        if self.error.startswith(TIMED_OUT):
            return "timeout"
        return "refused" if self.error.startswith(REFUSED) else "transport_error"


def signature(claimed: Claimed, timestamp: datetime, at_us: int) -> str:
    """``v1,<sig>`` with the current secret, and with the previous one while it still signs."""
    signatures = [Webhook(claimed.secret).sign(claimed.id, timestamp, claimed.body)]
    if claimed.previous_secret and (claimed.previous_secret_until_us or 0) > at_us:
        signatures.append(Webhook(claimed.previous_secret).sign(claimed.id, timestamp, claimed.body))
    return " ".join(signatures)


class Dispatcher(BackgroundLoop):
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        schedule: list[float],
        timeout: float,
        allow_hosts: str,
        resolve: Resolve = system_resolve,
        concurrency: int = 32,
        poll_interval: float = 0.5,
    ):
        super().__init__("webhook-dispatcher")
        self.engine = engine
        self.clock = clock
        self.schedule = schedule
        self.timeout = timeout
        self.allow_hosts = allow_hosts
        self.resolve = resolve
        self.poll_interval = poll_interval
        self.exchanges = Exchanges(max_connections=concurrency * 2)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self.concurrency = concurrency
        self.wake_event = threading.Event()
        self._busy: set[str] = set()  # subscriptions with deliveries in flight here
        self._busy_lock = threading.Lock()
        self.on_outcome: list[Callable[[str, Outcome], None]] = []

    # --- one subscription's queue -----------------------------------------------------

    def _deliver_in_order(self, queue: list[Claimed]) -> None:
        """Attempt a subscription's claimed messages one after another, in log order."""
        for index, message in enumerate(queue):
            if not lease_covers(message.lease_until_us, now_us(self.clock), self.timeout):
                # Earlier attempts or their records took longer than planned: an attempt
                # begun now could outlast the lease, and another dispatcher may claim it.
                release(self.engine, queue[index:])
                return
            outcome = self.deliver(message)
            if outcome.error is not None and index + 1 < len(queue):
                # The subscriber is failing: hand the rest back rather than spend a
                # timeout on each; they are claimed again, in order, next round.
                release(self.engine, queue[index + 1 :])
                return

    def claim(self, busy: frozenset[str] = frozenset(), room: int = CLAIM_LIMIT, keep_free: int = 0) -> list[Claimed]:
        return claim(self.engine, now_us(self.clock), self.timeout, busy, room, keep_free)

    def deliver(self, claimed: Claimed) -> Outcome:
        outcome = self._attempt(claimed)
        try:
            self._record(claimed, outcome)
        except Exception:
            log.exception(
                "could not record the attempt of %s; its lease will expire and it will be retried", claimed.id
            )
        for listener in self.on_outcome:
            listener(claimed.id, outcome)
        return outcome

    def _attempt(self, claimed: Claimed) -> Outcome:
        started = time.monotonic()
        try:
            targets = pinned(claimed.url, self.allow_hosts, self.resolve)
            at = self.clock()
            headers = {
                "content-type": "application/json",
                "webhook-id": claimed.id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": signature(claimed, at, to_micros(at)),
                "user-agent": "crisis-timeline-webhooks/1",
            }
            # The address check counts against the attempt's bound too.
            within = self.timeout - (time.monotonic() - started)
            answer = self.exchanges.post(claimed.url, targets, claimed.body.encode(), headers, within)
        except UnsafeTargetError as exc:
            return Outcome(None, _ms(started), f"{REFUSED}{exc}"[:EXCERPT], None)
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, _ms(started), f"{TIMED_OUT}no complete answer within {self.timeout:g} s", None)
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), f"{type(exc).__name__}: {exc}"[:EXCERPT], None)
        error = None
        if not 200 <= answer.status_code < 300:
            error = f"HTTP {answer.status_code}: {answer.excerpt}"
        return Outcome(
            answer.status_code,
            _ms(started),
            error,
            parse_retry_after(answer.retry_after, self.clock()),
        )

    def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        m = webhook_messages
        attempts = claimed.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "lease_until_us": None}
        gone = outcome.status_code == 410
        if outcome.error is None:
            values["status"] = MESSAGE_DELIVERED
        elif gone:
            values["status"] = MESSAGE_FAILED
        else:
            delay = retry_delay(self.schedule, attempts, random.uniform(-1, 1), outcome.retry_after)  # noqa: S311
            if delay is None:
                values["status"] = MESSAGE_FAILED
            else:
                values["next_attempt_us"] = now_us(self.clock) + int(delay * 1_000_000)
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(webhook_attempts).values(
                    message_id=claimed.id,
                    at_us=now_us(self.clock),
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
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
                    .values(status=SUBSCRIPTION_DISABLED, disabled_reason="the receiver answered 410 Gone")
                )

    # --- running in the background ---------------------------------------------------

    def wake(self, *_: object) -> None:
        self.wake_event.set()

    def interrupt(self) -> None:
        self.wake_event.set()

    def close(self) -> None:
        self.stop()
        self.pool.shutdown(wait=True)
        self.exchanges.close()

    def step(self) -> None:
        """Keep every free delivery slot busy; a slow subscriber occupies one slot only.

        Subscriptions are served in parallel; each one's messages one after
        another in log order, so a subscriber sees first attempts in order and
        a slow one holds up only itself.
        """
        self.wake_event.clear()
        with self._busy_lock:
            busy = frozenset(self._busy)
        room = self.concurrency - len(busy)
        claimed = self.claim(busy, room, reserved_slots(self.concurrency)) if room > 0 else []
        for queue in _queues(claimed):
            with self._busy_lock:
                self._busy.add(queue[0].subscription_id)
            self.pool.submit(self._serve_queue, queue)
        if not claimed:
            self.wake_event.wait(self.poll_interval)

    def failed(self, exc: Exception, pause: float) -> None:
        if classify(exc) is None:
            log.exception("webhook dispatch failed; retrying in %.1fs", pause)
        else:  # expected while the database is down: no traceback every few seconds
            log.warning("webhook dispatch: database unavailable (%s); retrying in %.1fs", exc, pause)
        self.sleep(pause)

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
