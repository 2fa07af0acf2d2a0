"""Test databases: migrated once per test session, then copied or emptied for each test.

Migrating took a large part of every storage test's fixed cost. So each session (each
xdist worker) migrates one SQLite file and one PostgreSQL database, and each test then
starts from a copy of that file, or from that database with every row deleted and
every sequence restarted, which is what a freshly migrated database holds.

Deleting rows beat both TRUNCATE (a new file per table, synced at commit) and
``CREATE DATABASE ... TEMPLATE`` (a checkpoint per copy) by an order of magnitude on
a small schema.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from service.bootstrap import bootstrap
from service.settings import Settings

SQLITE_NAME = "timeline.sqlite3"
# What SQLite may keep beside a database file (a journal, the write-ahead log).
SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the current schema, as the service does at start."""
    bootstrap(Settings(database_url=url, _env_file=None)).close()


# --- SQLite: a migrated file, copied ------------------------------------------------------


def migrated_sqlite(folder: Path) -> Path:
    """A migrated SQLite database file in ``folder``, for copying."""
    path = folder / SQLITE_NAME
    migrate(f"sqlite:///{path}")
    return path


def copy_sqlite(template: Path, folder: Path) -> str:
    """The URL of a fresh copy of ``template`` in ``folder``."""
    target = folder / SQLITE_NAME
    for suffix in ("", *SQLITE_SIDECARS):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copyfile(source, f"{target}{suffix}")
    return f"sqlite:///{target}"


# --- PostgreSQL: one database per worker, emptied between tests ---------------------------


def worker_database_url(base_url: str, worker: str | None) -> str:
    """The database of one xdist worker (``<db>_gw0``...), or the given one without xdist."""
    if worker is None:
        return base_url
    url = make_url(base_url)
    return url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)


@contextmanager
def worker_database(base_url: str, worker: str | None) -> Iterator[str]:
    """The worker's own database, created empty for the session and dropped after it."""
    url = worker_database_url(base_url, worker)
    if url == base_url:
        yield url
        return
    name = make_url(url).database
    # No pool: the session holds no connection to the given database between creating and dropping.
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def drop_schema(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class MigratedPostgres:
    """A migrated PostgreSQL database and how to bring it back to just migrated."""

    url: str
    engine: Engine
    # Children before parents, so that deleting never trips a foreign key.
    tables: list[str]
    sequences: list[str]
    revision: str

    @classmethod
    def create(cls, url: str) -> MigratedPostgres:
        drop_schema(url)
        migrate(url)
        engine = create_engine(url, pool_size=1, max_overflow=0)
        reflected = MetaData()
        reflected.reflect(engine)
        tables = [t.name for t in reversed(reflected.sorted_tables) if t.name != "alembic_version"]
        with engine.connect() as conn:
            listed = conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"))
            sequences = list(listed.scalars())
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        return cls(url, engine, tables, sequences, revision)

    def empty(self) -> str:
        """The database as just migrated: every row deleted, sequences restarted.

        A test that changed the schema itself (a downgrade) gets it dropped and migrated again.
        """
        if not self._schema_unchanged():
            self.engine.dispose()
            drop_schema(self.url)
            migrate(self.url)
            return self.url
        with self.engine.begin() as conn:
            # A connection a test left behind must not hold the next one up for ever.
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            for table in self.tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
            for sequence in self.sequences:
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        return self.url

    def _schema_unchanged(self) -> bool:
        with self.engine.connect() as conn:
            tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
            if tables != {*self.tables, "alembic_version"}:
                return False
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == self.revision

    def close(self) -> None:
        self.engine.dispose()
