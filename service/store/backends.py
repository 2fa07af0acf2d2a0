"""From one SQLAlchemy database URL to the event store's settings and the read-model engine."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

# Bounded waits on PostgreSQL, so that a request during an outage fails within a second
# (503) instead of hanging: a connection checkout gives up after POOL_TIMEOUT seconds, and
# connecting after CONNECT_TIMEOUT (libpq counts whole seconds, and advises at least 2).
POOL_TIMEOUT = 1
CONNECT_TIMEOUT = 2
# psycopg_pool gives up reconnecting after this long; the next checkout starts afresh
# (service/store/postgres.py says why this makes recovery quick).
RECONNECT_TIMEOUT = 3


class UnsupportedDatabaseError(ValueError):
    pass


def normalise_url(database_url: str) -> URL:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or "mode=memory" in str(url):
            raise UnsupportedDatabaseError(
                "SQLite needs a file (sqlite:///path/to/file.sqlite3): the store and the "
                "read models are shared between connections"
            )
        return url.set(drivername="sqlite", database=str(Path(url.database).resolve()))
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise UnsupportedDatabaseError(f"unsupported database '{url.get_backend_name()}'")


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def libpq_params(url: URL) -> dict[str, str]:
    """Where and as whom to connect, as libpq takes it, from any URL SQLAlchemy accepts.

    A Unix socket's directory, and its port, come in the query string
    (``postgresql+psycopg:///timeline?host=/var/run/postgresql``); the password as
    decoded from the URL.
    """
    query = {key: value if isinstance(value, str) else value[0] for key, value in url.query.items()}
    return {
        "dbname": url.database or "",
        "host": url.host or query.get("host") or "127.0.0.1",
        "port": str(url.port or query.get("port") or 5432),
        "user": url.username or "postgres",
        "password": url.password or "",
    }


def event_store_env(url: URL, *, pool_size: int = 10) -> dict[str, str]:
    """Environment for the ``eventsourcing`` library's fastest mature recorders.

    ``pool_size`` connections to PostgreSQL are opened at start and kept open.
    """
    common = {"CREATE_TABLE": "n"}  # the schema belongs to the migrations
    if is_sqlite(url):
        from service.store import sqlite

        return {
            **common,
            "PERSISTENCE_MODULE": sqlite.PERSISTENCE_MODULE,
            "SQLITE_DBNAME": url.database or "",
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    from service.store import postgres  # needs the postgres extra

    where = libpq_params(url)
    return {
        **common,
        "PERSISTENCE_MODULE": postgres.PERSISTENCE_MODULE,
        "POSTGRES_DBNAME": where["dbname"],
        "POSTGRES_HOST": where["host"],
        "POSTGRES_PORT": where["port"],
        "POSTGRES_USER": where["user"],
        "POSTGRES_PASSWORD": where["password"],
        # The library's name for what is the pool's checkout timeout.
        "POSTGRES_CONNECT_TIMEOUT": str(POOL_TIMEOUT),
        "POSTGRES_LIBPQ_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "POSTGRES_RECONNECT_TIMEOUT": str(RECONNECT_TIMEOUT),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "20",
        # No pre-ping: after the server drops connections, psycopg_pool checks each pooled one
        # with a backoff (1 s, 2 s, 4 s ...: ~30 s to get past ten dead ones); without it, the
        # library retries the operation (10 times, 0.2 s apart) and the pool discards the dead.
        "POSTGRES_PRE_PING": "n",
        # Left off on purpose: database functions let a follower skip events under concurrency.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def create_read_engine(url: URL) -> Engine:
    """The SQLAlchemy engine for read models, positions and migrations."""
    # JSON columns (fact bodies) are decoded on every read: orjson does it about twice as fast.
    codec = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
    if not is_sqlite(url):
        return create_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            pool_timeout=POOL_TIMEOUT,
            connect_args={"connect_timeout": CONNECT_TIMEOUT},
            **codec,
        )
    engine = create_engine(url, connect_args={"timeout": 30}, **codec)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Take transaction control from pysqlite so that writers can BEGIN IMMEDIATE:
        # a deferred transaction that reads then writes can fail with SQLITE_BUSY.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Read models can be rebuilt from the log and carry their position in the same
        # transaction, so they need consistency, not per-commit durability.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
