"""Read latency at scale: an actor's state at a date (and a timeline page) over a large store.

    .venv/bin/python -m bench.state_query [--facts 100000] [--actors 1000] [--backend sqlite|postgres]
                                          [--queries 300]

In one run it

* builds a fresh store — SQLite: a new file in a temporary folder; PostgreSQL: the database in
  ``TIMELINE_BENCH_POSTGRES_URL``, whose ``public`` schema is dropped and recreated first;
* loads N synthetic facts over M actors (Zipf-like actor popularity; deployments, repositionings
  with known and unknown counts, suspensions and resumptions of a few missions, strikes,
  statements; occurred over two years; varied publication times) through
  ``container.store.record_facts`` in batches of 1000, then corrects a few percent of them
  (personnel or occurred_at, reported later) and retracts about 1 %, then catches the read models
  up with ``container.read_models.catch_up()``; each phase is timed on its own;
* measures in-process, with a fresh connection from ``container.engine`` per query (as the API
  does), ``queries.actor_state`` for the median and the busiest actor under the current record,
  ``as_of`` a past transaction time, and ``as_of`` + ``reported_by``, each at a random ``at``;
  and ``queries.timeline`` pages of 100;
* splits the state query into SQL + fetch (raw driver, body as text), JSON decoding and the fold;
* prints the figures, the store's size, the machine, and the query plans of the SQL that
  ``actor_state`` runs (EXPLAIN QUERY PLAN / EXPLAIN (ANALYZE, BUFFERS)).

Everything is bounded in time (see --max-load-seconds, --max-seconds). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bench.common.databases import bench_postgres_url, libpq_url, reset_postgres
from bench.common.dataset import END, LoadFigures, iso, load, us
from bench.common.errors import BenchError
from bench.common.machine import finish_date, machine_info, wait_for_quiet
from bench.common.processes import raise_interrupt, workspace
from bench.common.stats import fmt, pct, progress, rate, table
from bench.targets.state_queries import (
    Breakdown,
    Params,
    Series,
    StoreFacts,
    breakdown,
    make_params,
    measure,
    plan,
    run_state,
    run_timeline,
    state_sql,
    store_facts,
)
from service.bootstrap import Container, bootstrap
from service.readmodels.queries import Axes
from service.runtime import tune_garbage_collector
from service.settings import Settings

AXES_LABEL = {"now": "current", "as_of": "as_of", "as_of_rep": "as_of+reported_by"}
Row = tuple[str, str, Callable[[Any, Params], int], list[Params]]


def query_rows(sf: StoreFacts, kinds: dict[str, list[Params]]) -> list[Row]:
    """(name, actor, query, parameters) of every measured row."""
    rows: list[Row] = [
        (f"state {who}, {AXES_LABEL[k]}, random at", actor, run_state(actor), kinds[k])
        for who, actor in (("median", sf.median), ("busiest", sf.busiest))
        for k in ("now", "as_of", "as_of_rep")
    ]
    for label, actor, from_random in (
        ("median, first page of 100", sf.median, False),
        ("busiest, 100 from random date", sf.busiest, True),
    ):
        for k in ("now", "as_of"):
            rows.append((f"timeline {label}, {AXES_LABEL[k]}", actor, run_timeline(actor, from_random), kinds[k]))
    return rows


@dataclass
class Plans:
    """The SELECT actor_state sends for the median and the busiest actor, and their plans."""

    params: Params
    median_sql: str
    median_params: Any
    median_state: dict[str, Any]
    median_plan: list[str]
    busiest_state: dict[str, Any]
    busiest_plan: list[str]


def plans(engine: Engine, sf: StoreFacts) -> Plans:
    """With the parameters of one as_of query at a date late in the span."""
    p = Params(at_us=us(END) - 86400 * 10**6 * 30, axes=Axes(as_of_us=sf.recorded_us[len(sf.recorded_us) // 2]))
    median_sql, median_params, median_state, _ = state_sql(engine, sf.median, p)
    busiest_sql, busiest_params, busiest_state, _ = state_sql(engine, sf.busiest, p)
    return Plans(
        p,
        median_sql,
        median_params,
        median_state,
        plan(engine, median_sql, median_params),
        busiest_state,
        plan(engine, busiest_sql, busiest_params),
    )


def run_benchmark(
    container: Container, args: argparse.Namespace, info: dict[str, str], db_path: Path | None, run_started: float
) -> None:
    progress(f"loading {args.facts} facts over {args.actors} actors into {args.backend} ...")
    figures = LoadFigures()
    t0 = time.perf_counter()
    load(container, args, figures)
    load_s = time.perf_counter() - t0
    sf = store_facts(container, db_path)
    engine = container.engine
    rng = random.Random(args.seed + 2)
    kinds = {k: make_params(rng, k, sf, args.warmup + args.queries) for k in ("now", "as_of", "as_of_rep")}
    busy_before = None
    if args.wait_idle > 0:
        progress(f"waiting up to {args.wait_idle:g} s for a quiet machine ...")
        busy_before = wait_for_quiet(args.wait_idle)[1]
    results: list[Series] = []
    for name, actor, run, params in query_rows(sf, kinds):
        progress(f"measuring {name} ...")
        results.append(
            measure(engine, Series(name, actor), params, run, warmup=args.warmup, max_seconds=args.max_seconds)
        )
    progress("timing the parts of actor_state (SQL, JSON decoding, fold) ...")
    measured_as_of = kinds["as_of"][args.warmup :][: min(args.queries, 100)]
    breaks = [
        breakdown(engine, f"{who}, as_of", actor, measured_as_of, args.max_seconds / 2)
        for who, actor in (("median", sf.median), ("busiest", sf.busiest))
    ]
    the_plans = plans(engine, sf)
    print()
    print(
        f"State-query benchmark ({args.backend}): {args.facts} facts over {args.actors} actors "
        f"(Zipf s={args.zipf:g}, seed {args.seed}), in-process, a fresh connection per query"
    )
    print_load(figures, load_s)
    print_store(sf)
    print_queries(args, engine, results, busy_before)
    print_split(engine, breaks)
    finish_date(info)
    for key, value in info.items():
        print(f"{key + ':':16}{value}")
    print_plans(args, sf, the_plans)
    print(f"(whole run: {time.monotonic() - run_started:.0f} s)")


def print_load(figures: LoadFigures, load_s: float) -> None:
    print()
    print("Load")
    table(
        ("phase", "count", "seconds", "rate"),
        [
            (
                "validate (validate_fact)",
                f"{figures.facts} facts",
                f"{figures.validate_s:.1f}",
                rate(figures.facts, figures.validate_s),
            ),
            (
                "store append (record_facts, batches of 1000)",
                f"{figures.facts} facts",
                f"{figures.append_s:.1f}",
                rate(figures.facts, figures.append_s),
            ),
            (
                "projection catch-up of the facts (catch_up)",
                f"{figures.catch_up_events} events",
                f"{figures.catch_up_s:.1f}",
                rate(figures.catch_up_events, figures.catch_up_s),
            ),
            (
                "corrections (correct_fact, one at a time)",
                f"{figures.corrections}",
                f"{figures.corrections_s:.1f}",
                rate(figures.corrections, figures.corrections_s),
            ),
            (
                "retractions (retract_fact, one at a time)",
                f"{figures.retractions}",
                f"{figures.retractions_s:.1f}",
                rate(figures.retractions, figures.retractions_s),
            ),
            (
                "projection catch-up of the changes (catch_up)",
                f"{figures.catch_up_changes} events",
                f"{figures.catch_up_changes_s:.1f}",
                rate(figures.catch_up_changes, figures.catch_up_changes_s),
            ),
            *([("ANALYZE (PostgreSQL)", "", f"{figures.analyze_s:.1f}", "")] if figures.analyze_s else []),
            ("total (incl. generating the facts)", "", f"{load_s:.1f}", ""),
        ],
        left=2,
    )
    print(
        "(the read models are caught up twice: after the facts are appended, then after the corrections and "
        "retractions)"
    )


def print_store(sf: StoreFacts) -> None:
    print()
    print("Store")
    print(
        f"  facts {sf.facts:,}; revisions {sf.revisions:,} ({sf.corrected:,} corrections, {sf.retracted:,} retractions)"
    )
    print(
        f"  fact_versions rows {sf.versions:,}; fact_actors rows {sf.actor_rows:,}; "
        f"actors named {sf.actors_named:,}; size {sf.size}"
    )
    print(f"  busiest actor {sf.busiest}: {sf.busiest_facts:,} facts ({sf.busiest_rows:,} fact_actors rows)")
    print(f"  median actor  {sf.median}: {sf.median_facts:,} facts ({sf.median_rows:,} fact_actors rows)")


def print_queries(args: argparse.Namespace, engine: Engine, results: list[Series], busy_before: float | None) -> None:
    print()
    print(
        f"Queries (ms; {args.warmup} warm-up runs each, then up to {args.queries} measured, "
        f"at most {args.max_seconds:g} s per row; 'rows' = facts folded / items returned, mean)"
    )
    body = []
    for s in results:
        n = f"{len(s.times_ms)}" + ("*" if s.cut_short else "")
        mean_rows = sum(s.rows) / len(s.rows) if s.rows else None
        body.append(
            (
                s.name,
                n,
                fmt(mean_rows, ".0f"),
                fmt(pct(s.times_ms, 50), ".2f"),
                fmt(pct(s.times_ms, 90), ".2f"),
                fmt(pct(s.times_ms, 99), ".2f"),
                fmt(max(s.times_ms) if s.times_ms else None, ".2f"),
                fmt(s.own_cpu, ".0f") + "%",
                fmt(s.other_cpu, ".0f") + "%",
            )
        )
    table(("query", "n", "rows", "p50", "p90", "p99", "max", "own CPU", "other CPU"), body, left=1)
    if any(s.cut_short for s in results):
        print("  * cut short by --max-seconds: fewer runs than --queries")
    postgres = engine.dialect.name == "postgresql"
    other_label = "other processes, PostgreSQL's backend included" if postgres else "other processes"
    print(f"  own CPU = this process, other CPU = {other_label}, in % of one core over the row's measured runs")
    disturbed = [s.name for s in results if s.other_cpu is not None and s.other_cpu > 15 and not postgres]
    if busy_before is not None and busy_before >= 15:
        print(f"  NOTE: the machine was still {busy_before:.0f}% busy (all CPUs) after waiting {args.wait_idle:g} s")
    if disturbed:
        print(
            f"  NOTE: other processes used more than 15% of a core during {len(disturbed)} of the rows: "
            "those figures are disturbed"
        )


def print_split(engine: Engine, breaks: list[Breakdown]) -> None:
    print()
    print(
        "actor_state split (ms, mean / p99 of each part over the same as_of runs; SQL+fetch = the captured "
        "SELECT on the driver's own cursor, body as text; rest = total - parts: SQLAlchemy's result "
        "handling and connection checkout)"
    )
    brows = []
    for b in breaks:
        parts = [sum(x) / len(x) if x else None for x in (b.total, b.sql, b.decode, b.fold)]
        rest = None if None in parts else parts[0] - parts[1] - parts[2] - parts[3]  # type: ignore[operator]
        brows.append(
            (
                b.name,
                str(len(b.total)),
                fmt(sum(b.rows) / len(b.rows) if b.rows else None, ".0f"),
                *(
                    f"{fmt(m, '.2f')} / {fmt(pct(x, 99), '.2f')}"
                    for m, x in zip(parts, (b.total, b.sql, b.decode, b.fold), strict=True)
                ),
                fmt(rest, ".2f"),
            )
        )
    table(("actor_state", "n", "rows", "total", "SQL+fetch", "JSON decode", "fold", "rest"), brows, left=1)
    mismatched = [b.name for b in breaks if b.mismatches]
    if mismatched:
        print(f"  note: the split's own fold differed from actor_state's answer for: {', '.join(mismatched)}")
    print(
        "  JSON decoder (the engine's): "
        f"{getattr(getattr(engine.dialect, '_json_deserializer', None), '__module__', None) or 'json'}.loads"
    )
    print()


def print_plans(args: argparse.Namespace, sf: StoreFacts, p: Plans) -> None:
    print()
    explain = "EXPLAIN QUERY PLAN" if args.backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS)"
    print(
        f"SQL that actor_state sends (median actor {sf.median}, as_of = when the middle revision was recorded, "
        f"at = {iso(dt.datetime.fromtimestamp(p.params.at_us / 1e6, dt.UTC))}; "
        f"{p.median_state['event_count']} facts folded):"
    )
    print("  " + " ".join(p.median_sql.split()))
    print(f"  parameters: {p.median_params}")
    print()
    print(f"{explain}, median actor {sf.median}:")
    for line in p.median_plan:
        print("  " + line)
    print()
    print(f"{explain}, busiest actor {sf.busiest} (same axes and at; {p.busiest_state['event_count']} facts folded):")
    for line in p.busiest_plan:
        print("  " + line)
    print()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.state_query", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--facts", type=int, default=100_000, help="facts to load (default 100000)")
    parser.add_argument("--actors", type=int, default=1000, help="distinct actors (default 1000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--queries", type=int, default=300, help="measured runs per query kind (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured runs before each kind (default 20)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="cap on the measured time of each query kind; fewer runs are then reported (default 30)",
    )
    parser.add_argument(
        "--max-load-seconds",
        type=float,
        default=1200.0,
        help="give up if loading and catching up take longer (default 1200)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=60.0,
        help="before the queries, wait up to this many seconds for the machine to be quiet "
        "(<15%% busy for 2 s); 0 skips (default 60)",
    )
    parser.add_argument("--zipf", type=float, default=1.0, help="exponent of the actor popularity (default 1.0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (SQLite file)")
    args = parser.parse_args(argv)
    if not (1 <= args.facts <= 5_000_000 and 2 <= args.actors <= 100_000 and 1 <= args.queries <= 100_000):
        parser.error("need 1 <= --facts <= 5000000, 2 <= --actors <= 100000, 1 <= --queries <= 100000")

    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pg_url = bench_postgres_url(args.backend, "its public schema is dropped and recreated")
    if pg_url is None:
        return 2
    info = machine_info()
    run_started = time.monotonic()
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        with workspace(args.keep, "bench-state-query-") as workdir:
            if args.backend == "sqlite":
                db_path: Path | None = workdir / "timeline.sqlite3"
                db_url = f"sqlite:///{db_path}"
                info["backend"] = (
                    "SQLite file in a fresh temporary folder (the service's engine: WAL, synchronous=NORMAL)"
                )
            else:
                db_path = None
                db_url = pg_url
                version = reset_postgres(pg_url)
                info["backend"] = (
                    f"PostgreSQL {version} at {libpq_url(pg_url).split('@')[-1]} (public schema dropped and recreated)"
                )
            container = bootstrap(Settings(database_url=db_url, api_tokens=""))
            tune_garbage_collector()  # as the service's commands do
            try:
                run_benchmark(container, args, info, db_path, run_started)
            finally:
                container.close()
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
