"""Benchmark databases: a fresh one per phase (a SQLite file, or PostgreSQL on the local server),
and what is read from the store from outside the service (its head, the projections' positions,
the facts it holds)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.common.errors import BenchError
from bench.common.processes import LOOPBACK_HOSTS
from bench.common.stats import progress
from service.domain.facts import FACT_TYPES

LOCAL_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def libpq_url(sqlalchemy_url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, for psql and psycopg."""
    parts = urlsplit(sqlalchemy_url)
    return urlunsplit((parts.scheme.split("+", 1)[0], parts.netloc, parts.path, parts.query, parts.fragment))


def bench_postgres_url(backend: str, what: str) -> str | None:
    """The PostgreSQL URL for ``--backend postgres`` ("" for SQLite); None after saying why not."""
    if backend != "postgres":
        return ""
    url = os.environ.get("TIMELINE_BENCH_POSTGRES_URL", "")
    if not url:
        print(
            "--backend postgres needs TIMELINE_BENCH_POSTGRES_URL, e.g.\n"
            f"  TIMELINE_BENCH_POSTGRES_URL={LOCAL_SERVER}/timeline_bench\n"
            f"({what}). Nothing was run.",
            file=sys.stderr,
        )
        return None
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        print(f"refusing a non-loopback PostgreSQL host {host!r}", file=sys.stderr)
        return None
    return url


def reset_postgres(url: str) -> str:
    """Wipe the database (its public schema); the server's version."""
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SET statement_timeout = '120s'")
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
        version = conn.execute("SHOW server_version").fetchone()
    return str(version[0]) if version else "unknown"


def psql(sql: str) -> None:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"psql {sql!r} failed: {result.stderr.strip()}")


class PgDatabases:
    """A fresh database per phase: throwaway ones on the local server, or the given one wiped."""

    def __init__(self, given_url: str | None, keep: bool):
        self.given = given_url
        self.keep = keep
        self.created: list[str] = []

    def fresh(self, phase: str) -> str:
        if self.given:
            reset_postgres(self.given)
            return self.given
        name = f"timeline_bench_{os.getpid()}_{phase}"
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(f"CREATE DATABASE {name}")
        self.created.append(name)
        return f"{LOCAL_SERVER}/{name}"

    def done(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if self.keep or name not in self.created:
            return
        with contextlib.suppress(BenchError, subprocess.SubprocessError, OSError):
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.done(f"postgresql://127.0.0.1/{name}")
        if self.created:
            progress(f"kept the PostgreSQL databases {', '.join(self.created)}")


def fresh_database(workdir: Path, pg: PgDatabases | None, backend: str, phase: str) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, SQLite path or None) of a new, empty database for one phase."""
    if backend == "sqlite":
        path = workdir / f"{phase}.sqlite3"
        return f"sqlite:///{path}", path
    assert pg is not None
    return pg.fresh(phase), None


def release_database(pg: PgDatabases | None, keep: bool, url: str, path: Path | None) -> None:
    if path is not None and not keep:
        for p in path.parent.glob(path.name + "*"):
            p.unlink(missing_ok=True)
    elif path is None and pg is not None:
        pg.done(url)


def postgres_server_version(url: str) -> str:
    psql_path = shutil.which("psql")
    if psql_path is None:
        return "unknown (no psql)"
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        result = subprocess.run(
            [psql_path, libpq_url(url), "-X", "-A", "-t", "-c", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode == 0:
            return result.stdout.strip()
    return "unknown"


# --- the facts in the store, read after the service stopped -----------------------------------------


FACTS_SQL = "SELECT originator_id, topic FROM stored_events WHERE originator_version = 1"


def _fact_ids(rows: list[tuple[str, str]]) -> list[str]:
    """The event ids of the rows whose topic is a fact's creation (not a correction or retraction)."""
    out = []
    for originator_id, topic in rows:
        if topic.replace(":", ".").rsplit(".", 1)[-1] in FACT_TYPES:
            out.append(str(uuid.UUID(originator_id)))
    return out


def ids_in_sqlite(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(FACTS_SQL).fetchall()
    finally:
        conn.close()
    return _fact_ids(rows)


def ids_in_postgres(url: str) -> list[str] | None:
    """Via the psql client, if installed; None when it is not."""
    psql_path = shutil.which("psql")
    if psql_path is None:
        return None
    result = subprocess.run(
        [psql_path, libpq_url(url), "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", FACTS_SQL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"psql failed: {result.stderr.strip()}")
    rows = [tuple(line.split("\t", 1)) for line in result.stdout.splitlines() if line.strip()]
    return _fact_ids(rows)  # type: ignore[arg-type]


class StoreProbe:
    """Reads the log's head and the projections' positions from outside the service (cheap queries)."""

    def __init__(self, url: str):
        self.url = url
        self.conn: Any = None
        self.last: dict[str, int] = {}
        self.error = ""

    def _connect(self) -> Any:
        if self.conn is None:
            if self.url.startswith("sqlite"):
                path = Path(self.url.split("///", 1)[1])
                if not path.exists():
                    return None
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, isolation_level=None)
            else:
                self.conn = psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=10)
        return self.conn

    def _scalar(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        try:
            conn = self._connect()
            if conn is None:
                return 0
            if not self.url.startswith("sqlite"):
                sql = sql.replace("?", "%s").replace("rowid", "notification_id")
            row = conn.execute(sql, params).fetchone()
            self.last[what] = int(row[0] or 0) if row else 0
            self.error = ""
        except (sqlite3.Error, psycopg.Error, OSError) as exc:  # not there yet, or busy: the last value stands
            self.error = f"{type(exc).__name__}: {exc}"
            if self.conn is not None and not self.url.startswith("sqlite"):
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = None
        return self.last.get(what, 0)

    def head(self) -> int:
        return self._scalar("head", "SELECT max(rowid) FROM stored_events")

    def position(self, name: str) -> int:
        return self._scalar(name, "SELECT position FROM projection_positions WHERE name = ?", (name,))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
