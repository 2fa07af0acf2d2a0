"""The composition root: builds the whole service from settings, and nothing else does."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.engine import URL

from service import migrate
from service.domain.errors import PositionBeyondLogError
from service.domain.instants import Clock
from service.observability.metrics import Metrics, StoreReading
from service.readmodels.projection import ReadModelProjection
from service.readmodels.worker import PostgresListener, ProjectionWorker, read_position
from service.settings import Settings
from service.store.application import TimelineApplication
from service.store.backends import (
    CONNECT_TIMEOUT,
    create_read_engine,
    event_store_env,
    is_sqlite,
    libpq_params,
    normalise_url,
)
from service.store.health import StorageHealth, free_space
from service.webhooks.dispatcher import Dispatcher
from service.webhooks.guard import Resolve, system_resolve
from service.webhooks.outbox import WebhookOutbox
from service.webhooks.subscriptions import Subscriptions
from service.webhooks.tables import webhook_messages

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    url: URL
    engine: Engine
    store: TimelineApplication
    projections: list[ProjectionWorker]
    dispatcher: Dispatcher
    subscriptions: Subscriptions
    metrics: Metrics
    # Queries run at once by API requests in this process (see Settings.read_concurrency).
    read_slots: threading.BoundedSemaphore
    # The last storage failure, reported by /readyz until a write succeeds again.
    storage: StorageHealth
    # The one source of wall-clock time, for requests too (a read's default `at`).
    clock: Clock
    listeners: list[Any] = field(default_factory=list)
    token_scopes: dict[str, str] = field(default_factory=dict)
    running: bool = False

    def add_demo_token(self) -> str:
        """A fresh admin token for ``serve --demo``."""
        token = secrets.token_urlsafe(24)
        self.token_scopes[token] = "admin"
        return token

    @property
    def read_models(self) -> ProjectionWorker:
        return self.projections[0]

    def start_workers(self) -> None:
        """Run the projections in background threads of this process (``serve``, ``worker``)."""
        if self.running:
            return
        for worker in self.projections:
            self.store.recorded_listeners.append(worker.waker.wake)
            worker.start()
        self.dispatcher.start()
        if not is_sqlite(self.url):
            from psycopg.conninfo import make_conninfo

            # Keywords, not a URL: a socket directory or a password needs no escaping that way.
            conninfo = make_conninfo(**libpq_params(self.url), connect_timeout=CONNECT_TIMEOUT)
            listener = PostgresListener(conninfo, "stored_events", self._wake_all)
            listener.start()
            self.listeners.append(listener)
        self.running = True

    def _wake_all(self) -> None:
        for worker in self.projections:
            worker.waker.wake()

    def stop_workers(self) -> None:
        self.dispatcher.stop()
        for listener in self.listeners:
            listener.stop()
        self.listeners.clear()
        for worker in self.projections:
            worker.stop()
            if worker.waker.wake in self.store.recorded_listeners:
                self.store.recorded_listeners.remove(worker.waker.wake)
        self.running = False

    def wait_for_position(self, position: int, timeout: float) -> bool:
        """Whether the read models reach ``position`` within ``timeout`` seconds.

        PositionBeyondLogError, at once, if the log itself ends before ``position``.
        """
        deadline = time.monotonic() + timeout
        worker = self.read_models
        head_checked = False
        while True:
            with self.engine.connect() as conn:
                if read_position(conn, worker.name) >= position:
                    return True
            if not head_checked:
                # The log's head, not the read models': an append another process has just
                # acknowledged is in the event store before its answer leaves, so it is never
                # refused here. Read once: the head only grows.
                head = self.store.max_position()
                if position > head:
                    raise PositionBeyondLogError(position, head)
                head_checked = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Woken at once by a worker in this process; other processes are polled.
            worker.watch.wait(min(remaining, 0.05))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-model connection, taken in turn with the other queries of this process."""
        # A query folds rows in Python, and the SQLite driver gives up the GIL for every row:
        # sixteen such threads at once ran at a third of the speed of one (a convoy on the GIL),
        # so queries take turns; callers past the limit wait here.
        with self.read_slots, self.engine.connect() as conn:
            yield conn

    def store_reading(self) -> StoreReading:
        """The log's head, every projection's position and the webhook outbox, as the database has them."""
        head = self.store.max_position()
        m = webhook_messages
        with self.engine.connect() as conn:
            positions = {w.name: read_position(conn, w.name) for w in self.projections}
            counts: dict[str, int] = dict(conn.execute(select(m.c.status, func.count()).group_by(m.c.status)).all())
        return StoreReading(head=head, projections=positions, webhook_messages=counts)

    def close(self) -> None:
        self.stop_workers()
        self.dispatcher.close()
        self.store.close()
        self.engine.dispose()


def system_clock() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    settings: Settings,
    *,
    apply_migrations: bool = True,
    clock: Clock = system_clock,
    resolve: Resolve = system_resolve,
) -> Container:
    """The service as ``settings`` describe it.

    ``clock`` is the one source of wall-clock time; ``resolve`` names the addresses a webhook
    target's host stands for, at subscription and at every delivery.
    """
    url = normalise_url(settings.database_url)
    engine = create_read_engine(url)
    if apply_migrations:
        migrate.upgrade(engine)
    store = TimelineApplication(event_store_env(url, pool_size=settings.postgres_pool_size), clock=clock)
    outbox = WebhookOutbox()
    projections = [
        ProjectionWorker(
            projection,
            recorder=store.recorder,
            mapper=store.mapper,
            engine=engine,
            min_interval=settings.projection_interval,
        )
        for projection in (ReadModelProjection(), outbox)
    ]
    dispatcher = Dispatcher(
        engine,
        clock=clock,
        schedule=settings.retry_schedule(),
        timeout=settings.webhook_timeout,
        allow_hosts=settings.webhook_allow_hosts,
        resolve=resolve,
        concurrency=settings.webhook_concurrency,
    )

    def wake_dispatcher(_position: int) -> None:
        # Only new messages need a claim: waking on every batch made the dispatcher
        # run an empty write transaction per append batch (a tenth of a busy server's CPU).
        if outbox.wrote_messages:
            dispatcher.wake()

    projections[1].after_commit.append(wake_dispatcher)
    # The outbox follows the read models: what they have just applied is its to deliver.
    projections[0].after_commit.append(projections[1].waker.wake)
    metrics = Metrics()
    store.save_observers.append(metrics.observe_append)
    storage = StorageHealth(
        free_space(os.path.dirname(url.database or ".")) if is_sqlite(url) else None,
        clock=lambda: clock().timestamp(),
    )
    store.save_observers.append(storage.succeeded)
    for worker in projections:
        worker.after_commit.append(storage.succeeded)
        worker.on_storage_failure.append(storage.failed)
    dispatcher.on_outcome.append(lambda _message_id, outcome: metrics.observe_webhook_attempt(outcome.kind))
    container = Container(
        settings=settings,
        url=url,
        engine=engine,
        store=store,
        projections=projections,
        dispatcher=dispatcher,
        subscriptions=Subscriptions(
            engine, settings.webhook_allow_hosts, store.max_position, clock=clock, resolve=resolve
        ),
        metrics=metrics,
        read_slots=threading.BoundedSemaphore(settings.read_concurrency or (2 if is_sqlite(url) else 4)),
        storage=storage,
        clock=clock,
        token_scopes=settings.token_scopes(),
    )
    metrics.read_store_with(container.store_reading)
    return container
