"""Timing the state queries in-process: the parameters of each kind (current, ``as_of``,
``as_of`` + ``reported_by``), measured series with their CPU, and the split of ``actor_state``
(SQL and fetch, JSON decoding, fold) with the plan of its SELECT; what the store holds (its busiest
and median actors) decides the parameters."""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, event, func, select, text

from bench.common.dataset import END, START, us
from bench.common.errors import BenchError
from bench.common.machine import CpuWindow
from service.bootstrap import Container
from service.domain.replay import fold_inputs
from service.readmodels import queries
from service.readmodels.queries import Axes, FactFilter
from service.readmodels.tables import fact_actors, fact_revisions, fact_versions


@dataclass
class StoreFacts:
    facts: int
    revisions: int
    corrected: int
    retracted: int
    versions: int
    actor_rows: int
    actors_named: int
    busiest: str
    busiest_facts: int
    busiest_rows: int
    median: str
    median_facts: int
    median_rows: int
    recorded_us: list[int]  # the transaction time of every revision, sorted
    size: str


def store_facts(container: Container, db_path: Path | None) -> StoreFacts:
    engine = container.engine
    with engine.connect() as conn:
        facts = conn.execute(
            select(func.count()).select_from(fact_revisions).where(fact_revisions.c.revision == 1)
        ).scalar_one()
        revisions = conn.execute(select(func.count()).select_from(fact_revisions)).scalar_one()
        corrected = conn.execute(
            select(func.count()).select_from(fact_revisions).where(fact_revisions.c.kind == "corrected")
        ).scalar_one()
        retracted = conn.execute(
            select(func.count()).select_from(fact_revisions).where(fact_revisions.c.kind == "retracted")
        ).scalar_one()
        versions = conn.execute(select(func.count()).select_from(fact_versions)).scalar_one()
        actor_rows = conn.execute(select(func.count()).select_from(fact_actors)).scalar_one()
        # Facts per actor: distinct facts naming it in their current version (retracted included).
        per_actor = conn.execute(
            select(fact_actors.c.actor_id, func.count(fact_actors.c.event_id.distinct()))
            .where(fact_actors.c.superseded_us.is_(None))
            .group_by(fact_actors.c.actor_id)
        ).all()
        rows_per_actor = dict(
            conn.execute(select(fact_actors.c.actor_id, func.count()).group_by(fact_actors.c.actor_id)).all()
        )
        recorded = list(
            conn.execute(select(fact_revisions.c.recorded_us).order_by(fact_revisions.c.recorded_us)).scalars()
        )
        if engine.dialect.name == "postgresql":
            size_bytes = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            size = f"{size_bytes / 2**20:.0f} MiB (pg_database_size)"
        else:
            size = "unknown"
    if db_path is not None:
        total = sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
        size = f"{total / 2**20:.0f} MiB (SQLite file + WAL)"
    ranked = sorted(per_actor, key=lambda r: (-r[1], r[0]))
    busiest = ranked[0]
    median = ranked[len(ranked) // 2]
    return StoreFacts(
        facts=facts,
        revisions=revisions,
        corrected=corrected,
        retracted=retracted,
        versions=versions,
        actor_rows=actor_rows,
        actors_named=len(ranked),
        busiest=busiest[0],
        busiest_facts=busiest[1],
        busiest_rows=rows_per_actor[busiest[0]],
        median=median[0],
        median_facts=median[1],
        median_rows=rows_per_actor[median[0]],
        recorded_us=recorded,
        size=size,
    )


@dataclass
class Series:
    name: str
    actor: str
    times_ms: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    planned: int = 0
    cut_short: bool = False
    own_cpu: float | None = None
    other_cpu: float | None = None


@dataclass(frozen=True)
class Params:
    at_us: int
    axes: Axes
    from_us: int | None = None


def make_params(rng: random.Random, kind: str, sf: StoreFacts, n: int) -> list[Params]:
    out = []
    for _ in range(n):
        at_us = rng.randrange(us(START), us(END))
        as_of = rng.choice(sf.recorded_us)  # the moment some revision was recorded
        reported_by = rng.randrange(us(START), us(END + dt.timedelta(days=30)))
        if kind == "now":
            axes = Axes()
        elif kind == "as_of":
            axes = Axes(as_of_us=as_of)
        else:
            axes = Axes(as_of_us=as_of, reported_by_us=reported_by)
        out.append(Params(at_us, axes, from_us=rng.randrange(us(START), us(END))))
    return out


def measure(
    engine: Engine,
    series: Series,
    params: list[Params],
    run: Callable[[Any, Params], int],
    warmup: int,
    max_seconds: float,
) -> Series:
    """Runs ``params[:warmup]`` unmeasured, then times the rest (until ``max_seconds``)."""
    measured = params[warmup:]
    series.planned = len(measured)
    for p in params[:warmup]:
        with engine.connect() as conn:
            run(conn, p)
    gc.collect()
    started = time.monotonic()
    with CpuWindow() as cpu:
        for p in measured:
            if time.monotonic() - started > max_seconds:
                series.cut_short = True
                break
            t0 = time.perf_counter()
            with engine.connect() as conn:
                n = run(conn, p)
            series.times_ms.append((time.perf_counter() - t0) * 1000)
            series.rows.append(n)
    series.own_cpu, series.other_cpu = cpu.own_pct, cpu.other_pct
    return series


def run_state(actor: str) -> Callable[[Any, Params], int]:
    def run(conn: Any, p: Params) -> int:
        return int(queries.actor_state(conn, actor, p.axes, p.at_us)["event_count"])

    return run


def run_timeline(actor: str, from_random: bool) -> Callable[[Any, Params], int]:
    def run(conn: Any, p: Params) -> int:
        filt = FactFilter(from_us=p.from_us) if from_random else FactFilter()
        return len(queries.timeline(conn, actor, p.axes, filt, None, 100).items)

    return run


# --- capturing actor_state's SQL: plans and the time breakdown --------------------------------


class Capture:
    """Records the SELECTs sent to the driver while on (SQLAlchemy before_cursor_execute)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.statements: list[tuple[str, Any]] = []

    def _listener(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, parameters))

    def __enter__(self) -> Self:
        event.listen(self.engine, "before_cursor_execute", self._listener)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._listener)


def state_sql(engine: Engine, actor: str, p: Params) -> tuple[str, Any, dict[str, Any], float]:
    """The one SELECT actor_state sends (statement, parameters), its answer, and its time in ms."""
    with Capture(engine) as cap:
        t0 = time.perf_counter()
        with engine.connect() as conn:
            state = queries.actor_state(conn, actor, p.axes, p.at_us)
        total_ms = (time.perf_counter() - t0) * 1000
    selects = [s for s in cap.statements if "fact_actors" in s[0]]
    if len(selects) != 1:
        raise BenchError(
            f"expected actor_state to send one SELECT on fact_actors, saw {len(cap.statements)}: "
            f"{[s[0][:80] for s in cap.statements]}"
        )
    return selects[0][0], selects[0][1], state, total_ms


def raw_rows(engine: Engine, statement: str, parameters: Any, prefix: str = "") -> list[tuple[Any, ...]]:
    """Run SQL on the driver's own cursor; JSON comes back as text (no decoding)."""
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        cur = dbapi.cursor()
        try:
            if engine.dialect.name == "postgresql":
                from psycopg.types.string import TextLoader

                cur.adapters.register_loader("json", TextLoader)
                cur.adapters.register_loader("jsonb", TextLoader)
            cur.execute(prefix + statement, parameters)
            return list(cur.fetchall())
        finally:
            cur.close()


@dataclass
class Breakdown:
    name: str
    actor: str
    total: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    decode: list[float] = field(default_factory=list)
    fold: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    mismatches: int = 0


def breakdown(engine: Engine, name: str, actor: str, params: list[Params], max_seconds: float) -> Breakdown:
    loads = getattr(engine.dialect, "_json_deserializer", None) or json.loads
    out = Breakdown(name, actor)
    started = time.monotonic()
    for p in params:
        if time.monotonic() - started > max_seconds:
            break
        statement, parameters, state, total_ms = state_sql(engine, actor, p)
        t0 = time.perf_counter()
        rows = raw_rows(engine, statement, parameters)
        t1 = time.perf_counter()
        inputs = [
            (frozenset(r[0][1:-1].split(",")), loads(r[1]) if isinstance(r[1], (str, bytes)) else r[1]) for r in rows
        ]
        t2 = time.perf_counter()
        folded = fold_inputs(inputs)
        t3 = time.perf_counter()
        if folded != state:
            out.mismatches += 1
        out.total.append(total_ms)
        out.sql.append((t1 - t0) * 1000)
        out.decode.append((t2 - t1) * 1000)
        out.fold.append((t3 - t2) * 1000)
        out.rows.append(len(rows))
    return out


def plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    if engine.dialect.name == "sqlite":
        rows = raw_rows(engine, statement, parameters, prefix="EXPLAIN QUERY PLAN ")
        depth: dict[int, int] = {0: -1}
        lines = []
        for node_id, parent, _unused, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
        return lines
    rows = raw_rows(engine, statement, parameters, prefix="EXPLAIN (ANALYZE, BUFFERS) ")
    return [r[0] for r in rows]


# --- report ---------------------------------------------------------------------------------
