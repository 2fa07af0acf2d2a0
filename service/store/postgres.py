"""The event store on PostgreSQL: the library's recorders, with waits that end.

``eventsourcing.postgres`` retries every operation that meets an ``OperationalError`` ten
times, 0.2 s apart, and reports "the pool gave no connection in time" as one. After a
restart that is what gets past the dead pooled connections (see backends.py); during an
outage it made each call wait ten pool timeouts. Here a pool timeout is raised as
``StorageUnavailableError``, which the library does not retry: the call fails after one
timeout and the caller answers 503. A dead connection still fails fast and is retried, as
the library does (backends.py says why): a request in flight when the server goes away
meets the pooled connections it cut, 0.2 s apart, before the timeout. Replacing them all
at the first dead one (``drain``, or ``check``) was tried: under connections cut five
times a second it cost a third of the append throughput in reconnections.

While the last connection attempt met no server at all, a checkout waits only
``UNANSWERED_TIMEOUT``: a refusal during an outage answers in about 0.1 s instead of a
second, and no longer keeps the requests queued behind it waiting too.

A full disk (SQLSTATE 53100) is an ``OperationalError`` too, and was retried the same way:
each refused write answered 507 after 1.8 s of attempts that could not succeed, since only
room made on the disk ends the condition, while the writer thread that commits every
append of the process waited with it. The datastore raises it as ``StorageFullError``,
which the library does not retry: a refused append answers as fast as an accepted one
(0.01 s median, 0.1 s at most, in tests/e2e/test_disk_full_postgres.py).

The library builds its pool and its datastore itself and offers no hook, so the factory
adjusts what it built before anything opens it: the datastore's class (one method more),
libpq's own connect timeout (psycopg_pool connects in the background with no timeout of
its own), and a short ``reconnect_timeout``. psycopg_pool retries a failed connection with
a doubling backoff until that timeout, so after a 60 s outage its next attempt could come
a minute after the server is back; with a short one the pool gives up soon, and the next
request grows it afresh with an immediate attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import eventsourcing.persistence as es
import eventsourcing.postgres as pg
from psycopg import Connection, OperationalError
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from service.store.backends import CONNECT_TIMEOUT, RECONNECT_TIMEOUT
from service.store.failures import FULL, StorageFullError, StorageUnavailableError, classify
from service.store.positions import fetch_position

# PERSISTENCE_MODULE names this module; the library takes its one factory class.
PERSISTENCE_MODULE = __name__
STARTUP_TIMEOUT = 30.0
UNANSWERED_TIMEOUT = 0.1  # a checkout's wait while the last connection attempt met no server


class _BoundedPool(pg.ConnectionPool[Connection[DictRow]]):
    _served = False
    _unanswered = False  # the last connection attempt met no server

    def getconn(self, timeout: float | None = None) -> Any:
        # A process starting while the server is busy (no connection slot free) or still
        # starting waits for its first connection as long as the library used to; once it
        # serves, a request waits the short checkout timeout.
        if timeout is None and not self._served:
            timeout = STARTUP_TIMEOUT
        elif self._unanswered:
            # While no server answers, no connection is coming: waiting the whole checkout
            # timeout only held the appends' one writer thread, so that a request queued
            # behind another's wait was refused after two (2.2 s on a loaded machine). The
            # short wait still asks the pool to connect, which is how the outage ends.
            timeout = min(self.timeout if timeout is None else timeout, UNANSWERED_TIMEOUT)
        try:
            conn = super().getconn(timeout)
        except PoolTimeout as exc:
            raise StorageUnavailableError(f"no database connection: {exc}") from exc
        self._served = True
        return conn

    def _connect(self, timeout: float | None = None) -> Any:
        try:
            conn = super()._connect(timeout)
        except OperationalError as exc:
            # A server that answers, even to refuse (too many clients: SQLSTATE 53300), may
            # free a connection soon; only silence or a refused socket counts as away.
            self._unanswered = exc.sqlstate is None
            raise
        self._unanswered = False
        return conn


class _Datastore(pg.PostgresDatastore):
    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        # Every recorder's statements run in this block, and the library's retries wrap
        # the recorders' methods from outside it: what is raised here is what they see.
        try:
            with super().get_connection() as conn:
                yield conn
        except es.OperationalError as exc:
            if classify(exc) == FULL:
                raise StorageFullError(str(exc)) from exc
            raise


class Recorder(pg.PostgresApplicationRecorder):
    def position_of(self, originator_id: UUID, version: int) -> int:
        """The notification id of one event of an aggregate."""
        query = f"SELECT notification_id AS position FROM {self.events_table_name} "  # noqa: S608 (fixed name)
        query += "WHERE originator_id=%s AND originator_version=%s"
        return fetch_position(self.datastore, query, (originator_id, version), f"{version} of {originator_id}")


class Factory(pg.PostgresFactory):
    application_recorder_class = Recorder

    def __init__(self, env: Any):
        super().__init__(env)
        self.datastore.__class__ = _Datastore  # same state, one method more
        pool = self.datastore.pool
        pool.__class__ = _BoundedPool  # same state, one method more: see the module docstring
        assert isinstance(pool.kwargs, dict)  # the library passes a dict, never a callable
        pool.kwargs["connect_timeout"] = int(self.env.get("POSTGRES_LIBPQ_CONNECT_TIMEOUT") or CONNECT_TIMEOUT)
        pool.reconnect_timeout = float(self.env.get("POSTGRES_RECONNECT_TIMEOUT") or RECONNECT_TIMEOUT)
