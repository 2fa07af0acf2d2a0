"""What a storage exception means for the caller: the database is unavailable, or something else.

The event store (eventsourcing), the read engine (SQLAlchemy) and the drivers under them
(psycopg and its pool, sqlite3) each raise classes of their own for the same condition, and
wrap each other's: eventsourcing re-raises a psycopg error as its own ``OperationalError``,
SQLAlchemy keeps the driver's error as ``orig``. This module is the one place that knows
them; callers ask ``classify`` and map the answer (the API to a status code, workers to a
retry). Only the condition decides, never the wrapper: an ``OperationalError`` can as well
be a connection refused (unavailable: retry later) as a statement the server rejected.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Literal

import eventsourcing.persistence as es
import sqlalchemy.exc as sa

UNAVAILABLE = "unavailable"
Failure = Literal["unavailable"]


class StorageUnavailableError(Exception):
    """The database could not be reached, or gave no connection, in the time allowed."""


try:  # PostgreSQL's driver is an optional dependency
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover (installed with the postgres extra)
    psycopg = None  # type: ignore[assignment]
    psycopg_pool = None  # type: ignore[assignment]

# Every class a storage call can raise, for callers that must catch before they classify.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailableError, es.PersistenceError, sa.DBAPIError, sa.TimeoutError, sa.DisconnectionError,
    sqlite3.Error, *((psycopg.Error,) if psycopg is not None else ()),
)

# SQLSTATEs of a server that is going away or turning connections down: the connection
# exception class (08), shutdowns (57P01-57P03), and no connection slot left (53300).
_UNREACHABLE_STATES = ("57P01", "57P02", "57P03", "53300")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps (``orig``, the cause), and so on down.

    Not the context: an error raised while handling an outage is not the outage.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([getattr(current, "orig", None), current.__cause__])


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, StorageUnavailableError | sa.TimeoutError | sa.DisconnectionError):
        return True  # no connection in time (our pool, SQLAlchemy's), or one found dead
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if psycopg is not None:
        if isinstance(exc, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests | psycopg_pool.PoolClosed):
            return True
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            # No SQLSTATE: the client found the connection refused, timed out or closed.
            state = exc.sqlstate
            return state is None or state.startswith("08") or state in _UNREACHABLE_STATES
    if isinstance(exc, sqlite3.OperationalError):
        # Another writer held the file past the busy timeout.
        return "locked" in str(exc) or "busy" in str(exc)
    return False


def classify(exc: BaseException) -> Failure | None:
    """``"unavailable"`` when the database could not serve the call in time; None otherwise."""
    if any(_unavailable(e) for e in _chain(exc)):
        return UNAVAILABLE
    return None
