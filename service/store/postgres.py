"""The event store on PostgreSQL: the library's recorders, with waits that end.

``eventsourcing.postgres`` retries every operation that meets an ``OperationalError`` ten
times, 0.2 s apart, and reports "the pool gave no connection in time" as one. After a
restart that is what gets past the dead pooled connections (see backends.py); during an
outage it made each call wait ten pool timeouts. Here a pool timeout is raised as
``StorageUnavailableError``, which the library does not retry: the call fails after one
timeout and the caller answers 503. A dead connection still fails fast and is retried; but
a connection that comes back broken makes the pool check the idle ones at once (one round
trip each), because they were most likely cut by the same restart or outage: the retry then
meets a live connection, or none and a timeout, rather than ten dead ones 0.2 s apart.

The library builds its pool itself and offers no hook, so the factory adjusts the pool it
built before anything opens it: libpq's own connect timeout (psycopg_pool connects in the
background with no timeout of its own), and a short ``reconnect_timeout``. psycopg_pool
retries a failed connection with a doubling backoff until that timeout, so after a 60 s
outage its next attempt could come a minute after the server is back; with a short one the
pool gives up soon, and the next request grows it afresh with an immediate attempt.
"""

from __future__ import annotations

from typing import Any

import eventsourcing.postgres as pg
from psycopg_pool import PoolTimeout

from service.store.backends import CONNECT_TIMEOUT, RECONNECT_TIMEOUT
from service.store.failures import StorageUnavailableError

# PERSISTENCE_MODULE names this module; the library takes its one factory class.
PERSISTENCE_MODULE = __name__


class _BoundedPool(pg.ConnectionPool):  # type: ignore[type-arg]
    def getconn(self, timeout: float | None = None) -> Any:
        try:
            return super().getconn(timeout)
        except PoolTimeout as exc:
            raise StorageUnavailableError(f"no database connection: {exc}") from exc

    def putconn(self, conn: Any) -> None:
        lost = conn.broken
        super().putconn(conn)
        if lost:
            self.check()


class Factory(pg.PostgresFactory):
    def __init__(self, env: Any):
        super().__init__(env)
        pool = self.datastore.pool
        pool.__class__ = _BoundedPool  # same state, one method more: see the module docstring
        pool.kwargs["connect_timeout"] = int(self.env.get("POSTGRES_LIBPQ_CONNECT_TIMEOUT") or CONNECT_TIMEOUT)
        pool.reconnect_timeout = float(self.env.get("POSTGRES_RECONNECT_TIMEOUT") or RECONNECT_TIMEOUT)
