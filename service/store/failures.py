"""What a storage failure means to a caller: the database is full, or it is unavailable.

Driver errors reach us wrapped: the event store raises ``eventsourcing.persistence``
classes chained (``__cause__``) to the driver's own error, SQLAlchemy raises
``sqlalchemy.exc.DBAPIError`` carrying it in ``.orig``. ``classify`` walks that chain to
the driver error and reads its code, never its message (messages change with versions
and locales; codes are the drivers' contract):

* SQLite (Python 3.11+ exposes the code): ``SQLITE_FULL`` is raised for every write that
  finds no room, in the database file, its WAL or a temporary file. ``SQLITE_IOERR_SHMSIZE``
  is the one "disk I/O error" that means no room: SQLite could not grow the ``-shm`` file
  of a WAL database. Any other "disk I/O error" may be a failing disk as well as a full
  one; the code cannot tell, so it stays unclassified (a logged 500) rather than a guess.
* PostgreSQL, by SQLSTATE: ``53100`` disk_full; the rest of class 53 (insufficient
  resources, out of memory, too many connections, ...) is the server being unable to
  serve for now.

Nothing here knows about HTTP: the API maps the kinds to answers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Literal

from eventsourcing.persistence import PersistenceError
from sqlalchemy.exc import DBAPIError

FailureKind = Literal["full", "unavailable"]
FULL: FailureKind = "full"
UNAVAILABLE: FailureKind = "unavailable"

# The exception types a storage failure can surface as, from any layer.
STORAGE_ERRORS: tuple[type[Exception], ...] = (PersistenceError, DBAPIError, sqlite3.Error)

SQLITE_FULL = 13
SQLITE_IOERR_SHMSIZE = 4874  # SQLITE_IOERR | (19 << 8)

POSTGRES_DISK_FULL = "53100"
POSTGRES_INSUFFICIENT_RESOURCES_CLASS = "53"

# A chain deeper than this is a cycle we failed to see; stop rather than loop.
_MAX_DEPTH = 20


def classify(exc: BaseException) -> FailureKind | None:
    """``"full"``, ``"unavailable"``, or None when ``exc`` is no storage failure we know."""
    for error in _chain(exc):
        kind = _sqlite_kind(error) or _postgres_kind(error)
        if kind is not None:
            return kind
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: ``.orig`` (SQLAlchemy), ``__cause__``, ``__context__``."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < _MAX_DEPTH:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        for inner in (getattr(error, "orig", None), error.__cause__, error.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _sqlite_kind(error: BaseException) -> FailureKind | None:
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.Error) or code is None:
        return None
    if code & 0xFF == SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE:
        return FULL
    return None


def _postgres_kind(error: BaseException) -> FailureKind | None:
    sqlstate = getattr(error, "sqlstate", None)  # psycopg's errors carry it
    if not isinstance(sqlstate, str):
        return None
    if sqlstate == POSTGRES_DISK_FULL:
        return FULL
    if sqlstate.startswith(POSTGRES_INSUFFICIENT_RESOURCES_CLASS):
        return UNAVAILABLE
    return None
