"""B2: raw inserts into a table of ``stored_events``' shape with real event states, one row per
commit and 1,000 rows per transaction: the store's ceiling for targets 2a, 2b and 2c."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from bench.common.databases import libpq_url
from bench.common.dataset import BATCH, Generator
from bench.common.stats import progress
from bench.targets.context import ACTORS, Ctx
from service.bootstrap import bootstrap
from service.domain.facts import validate_fact
from service.settings import Settings


def sample_events(ctx: Ctx) -> list[tuple[str, bytes]]:
    """Real stored events (topic, state) of generated facts, recorded by the service's own store."""
    if ctx.sample:
        return ctx.sample
    path = ctx.workdir / "sample-events.sqlite3"
    container = bootstrap(Settings(database_url=f"sqlite:///{path}", api_tokens=""))
    try:
        gen = Generator(ACTORS, 99, ctx.args.zipf)
        container.store.record_facts([validate_fact(gen.fact(i)[0]) for i in range(300)])
    finally:
        container.close()
    conn = sqlite3.connect(path)
    try:
        ctx.sample = [(str(t), bytes(s)) for t, s in conn.execute("SELECT topic, state FROM stored_events")]
    finally:
        conn.close()
    return ctx.sample


B2_COLUMNS = "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB"
B2_PG_COLUMNS = (
    "originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, "
    "notification_id bigserial"
)


def b2_sqlite(ctx: Ctx, rows: list[tuple[str, bytes]], seconds: float, total: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for mode in ("single", "batched"):
        path = ctx.workdir / f"b2-{mode}.sqlite3"
        conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT, as eventsourcing.sqlite
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            out["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
            conn.execute(f"CREATE TABLE stored_events ({B2_COLUMNS}, PRIMARY KEY (originator_id, originator_version))")
            n, elapsed = b2_insert(conn, rows, mode, seconds, total, "?", lambda: uuid.uuid4().hex)
        finally:
            conn.close()
        out[mode] = n / elapsed
        out[f"{mode}_rows"] = n
        if not ctx.args.keep:
            for p in path.parent.glob(path.name + "*"):
                p.unlink(missing_ok=True)
    return out


def b2_postgres(ctx: Ctx, rows: list[tuple[str, bytes]], seconds: float, total: int) -> dict[str, float]:
    url = ctx.pg.fresh("b2") if ctx.pg else ""
    out: dict[str, float] = {}
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
            for mode in ("single", "batched"):
                table = f"stored_events_{mode}"
                conn.execute(f"CREATE TABLE {table} ({B2_PG_COLUMNS}, PRIMARY KEY (originator_id, originator_version))")
                conn.execute(f"CREATE UNIQUE INDEX {table}_nid ON {table} (notification_id)")
                conn.commit()
                n, elapsed = b2_insert(conn, rows, mode, seconds, total, "%s", uuid.uuid4, table=table)
                out[mode] = n / elapsed
                out[f"{mode}_rows"] = n
            sync = conn.execute("SHOW synchronous_commit").fetchone()
            out["synchronous_commit"] = str(sync[0]) if sync else "?"  # type: ignore[assignment]
    finally:
        if ctx.pg:
            ctx.pg.done(url)
    return out


def b2_insert(
    conn: Any,
    rows: list[tuple[str, bytes]],
    mode: str,
    seconds: float,
    total: int,
    mark: str,
    new_id: Callable[[], Any],
    table: str = "stored_events",
) -> tuple[int, float]:
    """One row per transaction for ``seconds``; or ``total`` rows, 1,000 per transaction (executemany)."""
    sql = f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES ({', '.join([mark] * 4)})"
    is_sqlite = isinstance(conn, sqlite3.Connection)
    n = 0
    started = time.perf_counter()
    if mode == "single":
        end = started + seconds
        while True:
            topic, state = rows[n % len(rows)]
            if is_sqlite:
                conn.execute("BEGIN")
            conn.execute(sql, (new_id(), 1, topic, state))
            if is_sqlite:
                conn.execute("COMMIT")
            else:
                conn.commit()
            n += 1
            if n % 20 == 0 and time.perf_counter() >= end:
                break
        return n, time.perf_counter() - started
    params = [(new_id(), 1, *rows[i % len(rows)]) for i in range(total)]
    deadline = time.monotonic() + max(300.0, total / 1000)
    started = time.perf_counter()
    for i in range(0, total, BATCH):
        if is_sqlite:
            conn.execute("BEGIN")
            conn.executemany(sql, params[i : i + BATCH])
            conn.execute("COMMIT")
        else:
            with conn.cursor() as cur:
                cur.executemany(sql, params[i : i + BATCH])
            conn.commit()
        n += len(params[i : i + BATCH])
        if time.monotonic() > deadline:
            break
    return n, time.perf_counter() - started


def baseline_store(ctx: Ctx, backend: str) -> dict[str, float]:
    if backend in ctx.b2:
        return ctx.b2[backend]
    rows = sample_events(ctx)
    ctx.quiet(f"B2 ({backend})")
    total = ctx.args.import_facts
    progress(
        f"B2 ({backend}): raw inserts of {sum(len(s) for _, s in rows) / len(rows):.0f}-byte events, one per "
        f"commit for {ctx.args.seconds:g} s, then {total:,} in transactions of {BATCH} ..."
    )
    figures = (b2_sqlite if backend == "sqlite" else b2_postgres)(ctx, rows, ctx.args.seconds, total)
    state_bytes = sum(len(s) for _, s in rows) / len(rows)
    if backend == "sqlite":
        how = (
            f"Python sqlite3 {sqlite3.sqlite_version}, journal_mode=WAL, synchronous="
            f"{ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}.get(int(figures['synchronous']), '?') } "
            "(the library's: eventsourcing.sqlite sets WAL and leaves synchronous at its default)"
        )
    else:
        how = f"psycopg, synchronous_commit={figures.get('synchronous_commit')}, executemany for the batches"
    ctx.report.baselines.append(
        (
            "B2",
            backend,
            (
                f"raw inserts into a table of stored_events' shape, real {state_bytes:.0f}-byte event states from the "
                f"service's mapper: one row per commit {figures['single']:,.0f} rows/s "
                f"({figures['single_rows']:,.0f} rows); {BATCH} rows per transaction "
                f"{figures['batched']:,.0f} rows/s ({figures['batched_rows']:,.0f} rows); {how}"
            ),
        )
    )
    ctx.b2[backend] = figures
    return figures


# --- target 1: single-fact appends over HTTP ------------------------------------------------
