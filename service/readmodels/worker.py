"""Projection workers: follow the notification log, apply, and track the position.

The position moves in the same transaction as the rows, guarded by a
compare-and-set, so a crash never loses or doubles an event and a second
worker on the same projection cannot apply a batch twice. Workers wake when
the in-process store announces an append, on PostgreSQL also on LISTEN/NOTIFY,
and poll as a fallback; any error is logged and retried with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select, update

from service.background import BackgroundLoop
from service.readmodels.tables import projection_positions
from service.store.failures import FailureKind, classify
from service.store.sql import dialect_insert, write_transaction

log = logging.getLogger(__name__)


class _LostRace(Exception):
    """Another worker moved the projection's position first."""


class Projection(Protocol):
    name: str
    rebuildable: bool  # whether dropping and replaying it is harmless
    # The projection whose rows this one reads: it never gets ahead of that one's position.
    follows: str | None

    def apply(self, conn: Connection, events: Any) -> None: ...

    def reset(self, conn: Connection) -> None: ...


class Waker:
    """A latch that any thread can set to end a worker's idle wait early."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self, *_: object) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()


class PositionWatch:
    """Lets readers in this process wait until a projection reaches a position."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._position = 0

    def advance(self, position: int) -> None:
        with self._condition:
            if position > self._position:
                self._position = position
                self._condition.notify_all()

    @property
    def position(self) -> int:
        return self._position

    def wait(self, timeout: float) -> None:
        with self._condition:
            self._condition.wait(timeout)


class DecodedEvents:
    """(position, domain event) of each notification, decoded only when iterated.

    A projection with nothing to do for a batch (the webhook outbox without
    subscriptions) moves its position without paying for decoding.
    """

    def __init__(self, notifications: Sequence[Any], mapper: Any):
        self._notifications = notifications
        self._mapper = mapper

    def __len__(self) -> int:
        return len(self._notifications)

    @property
    def span(self) -> tuple[int, int]:
        """The first and the last position of the batch (it is not empty)."""
        return self._notifications[0].id, self._notifications[-1].id

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for notification in self._notifications:
            yield notification.id, self._mapper.to_domain_event(notification)


def read_position(conn: Connection, name: str) -> int:
    value = conn.execute(select(projection_positions.c.position).where(projection_positions.c.name == name)).scalar()
    return int(value or 0)


class ProjectionWorker(BackgroundLoop):
    def __init__(
        self,
        projection: Projection,
        *,
        recorder: Any,
        mapper: Any,
        engine: Engine,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        min_interval: float = 0.0,
    ):
        super().__init__(f"projection-{projection.name}")
        self.projection = projection
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.min_interval = min_interval
        self.waker = Waker()
        self.watch = PositionWatch()
        self.after_commit: list[Callable[[int], None]] = []
        # Told of every batch that failed for want of a usable database (full, unavailable).
        self.on_storage_failure: list[Callable[[FailureKind], None]] = []

    @property
    def name(self) -> str:
        return self.projection.name

    def position(self) -> int:
        with self.engine.connect() as conn:
            return read_position(conn, self.name)

    def process_batch(self) -> int | None:
        """Apply the next batch of events; returns how many were applied.

        None means another worker moved this projection on first: nothing was
        applied, and the caller may simply try again.
        """
        start = self.position()
        ceiling = self._ceiling()
        if ceiling is not None and ceiling <= start:
            return 0
        notifications = self.recorder.select_notifications(
            start=start, limit=self.batch_size, stop=ceiling, inclusive_of_start=False
        )
        if not notifications:
            return 0
        events = DecodedEvents(notifications, self.mapper)
        end = notifications[-1].id
        try:
            with write_transaction(self.engine) as conn:
                if not self._claim(conn, start, end):
                    raise _LostRace  # roll back: nothing of this batch may stay
                self.projection.apply(conn, events)
        except _LostRace:
            return None
        self.watch.advance(end)
        for listener in self.after_commit:
            listener(end)
        return len(events)

    def _ceiling(self) -> int | None:
        """How far this projection may go: the position of the one it follows, if any."""
        if self.projection.follows is None:
            return None
        with self.engine.connect() as conn:
            return read_position(conn, self.projection.follows)

    def _claim(self, conn: Connection, start: int, end: int) -> bool:
        """Move the position from ``start`` to ``end``, unless someone else moved it."""
        table = projection_positions
        if start == 0:
            # The first batch ever creates the row; of two racing workers, one inserts.
            created = conn.execute(
                dialect_insert(conn, table)
                .values(name=self.name, position=end)
                .on_conflict_do_nothing(index_elements=["name"])
                .returning(table.c.name)
            ).first()
            if created is not None:
                return True
        moved = conn.execute(
            update(table).where(table.c.name == self.name, table.c.position == start).values(position=end)
        )
        return moved.rowcount == 1

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Apply everything recorded so far; ``progress(done, position)`` after each batch."""
        done = 0
        while True:
            applied = self.process_batch()
            if applied is None:
                time.sleep(0.01)  # lost a race to another worker: follow it
                continue
            if not applied:
                return done
            done += applied
            if progress:
                progress(done, self.position())

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Drop this projection's rows and position, then replay the whole log."""
        with write_transaction(self.engine) as conn:
            self.projection.reset(conn)
            conn.execute(
                update(projection_positions).where(projection_positions.c.name == self.name).values(position=0)
            )
        return self.catch_up(progress)

    # --- running in the background ---------------------------------------------------

    def step(self) -> None:
        started = time.monotonic()
        applied = self.process_batch()
        if not applied:
            self.waker.wait(self.poll_interval)
        elif applied < self.batch_size:
            # Following the head under a stream of appends: let the next ones gather into
            # one batch. Each batch is a write transaction; one per group commit took the
            # SQLite write lock from the appends so often that they ran at a third of
            # their speed. After a quiet spell the first append is applied at once.
            self.sleep(max(0.0, self.min_interval - (time.monotonic() - started)))

    def interrupt(self) -> None:
        self.waker.wake()

    def failed(self, exc: Exception, pause: float) -> None:
        """Log the failure and wait before the same batch is tried again (it rolled back)."""
        kind = classify(exc)
        if kind is None:
            log.exception("projection %s failed; retrying in %.1fs", self.name, pause)
            self.sleep(pause)
            return
        for listener in self.on_storage_failure:
            listener(kind)
        # A full or unavailable database is the operator's to fix, not a bug: one line per
        # retry, no traceback. An append that commits in this process means it is fixed, so
        # the wait ends then (the waker), not a backoff of up to 5 s (MAX_BACKOFF) later.
        log.warning(
            "projection %s: database %s (%s); retrying in %.1fs", self.name, kind, str(exc).splitlines()[0], pause
        )
        self.waker.wait(pause)


class PostgresListener(BackgroundLoop):
    """Wakes workers on the store's NOTIFY; reconnects by itself when the connection drops."""

    def __init__(self, conninfo: str, channel: str, wake: Callable[[], None]):
        super().__init__("pg-listen")
        self.conninfo = conninfo
        self.channel = channel
        self.wake = wake

    # How long one wait for a notification lasts: a stop is noticed within it. The wait is a
    # select on the socket, so waking ten times a second costs nothing measurable.
    WAIT = 0.1

    def step(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.backoff.reset()
            self.wake()  # anything recorded while we were not listening
            while not self.stopping:
                for _ in conn.notifies(timeout=self.WAIT, stop_after=1):
                    self.wake()

    def failed(self, exc: Exception, pause: float) -> None:
        log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, pause)
        self.sleep(pause)
