"""What a storage exception means for the caller: the database is full, unavailable, or neither.

The event store (eventsourcing), the read engine (SQLAlchemy) and the drivers under them
(psycopg and its pool, sqlite3) each raise classes of their own for the same condition, and
wrap each other's: eventsourcing re-raises a driver error as its own ``OperationalError``
(``raise ... from``), SQLAlchemy keeps the driver's error as ``orig``. This module is the one
place that knows them; callers ask ``classify`` and map the answer (the API to a status code,
workers to a retry). Only the condition decides, never the wrapper: an ``OperationalError``
can as well be a connection refused (unavailable: retry later) as a full disk.

Codes decide where the drivers give them, never messages (messages change with versions and
locales; codes are the drivers' contract):

* SQLite (Python 3.11+ exposes the code): ``SQLITE_FULL`` is raised for every write that
  finds no room, in the database file, its WAL or a temporary file. ``SQLITE_IOERR_SHMSIZE``
  is the one "disk I/O error" that means no room: SQLite could not grow the ``-shm`` file
  of a WAL database. Any other "disk I/O error" may be a failing disk as well as a full
  one; the code cannot tell, so it stays unclassified (a logged 500) rather than a guess.
  ``SQLITE_BUSY`` (another writer held the file past the busy timeout) is unavailability.
* PostgreSQL, by SQLSTATE: ``53100`` disk_full; the rest of class 53 (insufficient
  resources, out of memory, too many connections), the connection exception class (08) and
  shutdowns (57P01-57P03) are the server being unable to serve for now. A psycopg
  operational error with no SQLSTATE is the client finding the connection refused, timed
  out or closed.

Nothing here knows about HTTP: the API maps the kinds to answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Literal

import eventsourcing.persistence as es
import sqlalchemy.exc as sa

FailureKind = Literal["full", "unavailable"]
FULL: FailureKind = "full"
UNAVAILABLE: FailureKind = "unavailable"


class StorageUnavailableError(Exception):
    """The database could not be reached, or gave no connection, in the time allowed."""


class StorageFullError(Exception):
    """The database refused a write for want of disk space; raised from the driver's error.

    A class of its own, not the event store's ``OperationalError``, so that the event store
    does not retry it: only room made on the disk ends the condition, and nobody makes it
    within the library's two seconds of retries. ``classify`` finds the driver's error in
    the cause.
    """


try:  # PostgreSQL's driver is an optional dependency
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover (installed with the postgres extra)
    psycopg = None  # type: ignore[assignment]
    psycopg_pool = None  # type: ignore[assignment]

# Every class a storage call can raise, for callers that must catch before they classify.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailableError,
    StorageFullError,
    es.PersistenceError,
    sa.DBAPIError,
    sa.TimeoutError,
    sa.DisconnectionError,
    sqlite3.Error,
    *((psycopg.Error,) if psycopg is not None else ()),
)

SQLITE_BUSY = 5
SQLITE_FULL = 13
SQLITE_IOERR_SHMSIZE = 4874  # SQLITE_IOERR | (19 << 8)

POSTGRES_DISK_FULL = "53100"
_POSTGRES_UNAVAILABLE_CLASSES = ("08", "53")
_POSTGRES_SHUTDOWNS = ("57P01", "57P02", "57P03")


def classify(exc: BaseException) -> FailureKind | None:
    """``"full"``, ``"unavailable"``, or None when ``exc`` is no storage failure we know."""
    for error in _chain(exc):
        kind = _sqlite_kind(error) or _postgres_kind(error) or _connection_kind(error)
        if kind is not None:
            return kind
    return None


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


def _sqlite_kind(error: BaseException) -> FailureKind | None:
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.Error) or code is None:
        return None
    if code & 0xFF == SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE:
        return FULL
    if code & 0xFF == SQLITE_BUSY:
        return UNAVAILABLE
    return None


def _postgres_kind(error: BaseException) -> FailureKind | None:
    if psycopg is None or not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate
    if state == POSTGRES_DISK_FULL:
        return FULL
    if state is None:
        # No SQLSTATE: the client found the connection refused, timed out or closed.
        return UNAVAILABLE if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError) else None
    if state.startswith(_POSTGRES_UNAVAILABLE_CLASSES) or state in _POSTGRES_SHUTDOWNS:
        return UNAVAILABLE
    return None


def _connection_kind(error: BaseException) -> FailureKind | None:
    """No connection in time (our pool, SQLAlchemy's, psycopg's), or one found dead."""
    if isinstance(error, StorageUnavailableError | sa.TimeoutError | sa.DisconnectionError):
        return UNAVAILABLE
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return UNAVAILABLE
    if psycopg_pool is not None and isinstance(
        error, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests | psycopg_pool.PoolClosed
    ):
        return UNAVAILABLE
    return None
