"""SQL helpers shared by the read models and the webhook tables: one MetaData, inserts, write transactions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Engine, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite

# Every table the migrations own (read models, positions, webhooks) is declared on this one.
metadata = MetaData()


def dialect_insert(conn: Connection, table: Table) -> Any:
    """An INSERT with the backend's ``on_conflict_do_*`` (both dialects spell them alike)."""
    module: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


@cache
def _insert_sql(table: Table, paramstyle: str) -> tuple[str, tuple[str, ...], frozenset[str]]:
    names = tuple(column.name for column in table.columns)
    mark = "?" if paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"
    return sql, names, frozenset(c.name for c in table.columns if isinstance(c.type, JSON))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows through the driver's ``executemany``.

    SQLAlchemy's per-row parameter processing for ``conn.execute(insert, rows)``
    cost as much as the inserts themselves in a projection catch-up (profiled).
    JSON values are written as text; None stays SQL NULL.
    """
    sql, names, json_names = _insert_sql(table, conn.dialect.paramstyle)
    conn.exec_driver_sql(
        sql,
        [
            tuple(orjson.dumps(row[n]).decode() if n in json_names and row[n] is not None else row[n] for n in names)
            for row in rows
        ],
    )


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN.

    A deferred SQLite transaction that reads and then writes fails at once with
    "database is locked" when another writer committed in between; an immediate
    one waits its turn instead (the engine's "begin" listener in backends.py).
    """
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            yield conn
