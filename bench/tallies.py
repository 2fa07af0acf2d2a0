"""Counts per month and the actors' list from the maintained tallies, beside the scan they replace.

    .venv/bin/python -m bench.tallies [--facts 100000] [--backend sqlite|postgres] [--runs 9]
                                      [--throughput]

In one run it builds a fresh store (SQLite: a file in a temporary folder; PostgreSQL: the database
in ``TIMELINE_BENCH_POSTGRES_URL``, whose ``public`` schema is dropped first), loads ``--facts``
synthetic facts with the shared loader (3 % corrected, 1 % retracted), then times in-process, on a
fresh connection per call as the API does, each question both ways in alternation: the scan
(``queries.scan_daily_counts``, ``list_actors(scan=True)``) and the tallies (``daily_counts``,
``list_actors``), and checks that both answer the same. ``--throughput`` also rebuilds the read
models twice without the tallies and twice with them, alternately, and prints events/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common.databases import reset_postgres
from bench.common.dataset import LoadFigures, load
from bench.common.machine import machine_info
from bench.common.stats import pct, progress, table
from service.bootstrap import Container, bootstrap
from service.domain.instants import from_micros
from service.domain.stats import bucket_counts
from service.readmodels import projection, queries
from service.readmodels.tables import fact_revisions
from service.readmodels.tallies import DAY_US, Tallies
from service.runtime import tune_garbage_collector
from service.settings import Settings

Question = Callable[[Any], Any]


def _stats(axes: queries.Axes, filt: queries.FactFilter, by: str, *, scan: bool) -> Question:
    count = queries.scan_daily_counts if scan else queries.daily_counts
    first = from_micros(filt.from_us).date() if filt.from_us is not None else None
    last = from_micros(filt.to_us).date() if filt.to_us is not None else None
    return lambda conn: bucket_counts(count(conn, axes, filt), by, first, last)  # type: ignore[arg-type]


def _actors(*, scan: bool) -> Question:
    return lambda conn: queries.list_actors(conn, None, 100, scan=scan).items


def questions(container: Container) -> list[tuple[str, Question, Question]]:
    """(name, the scan, the tallies) of each question timed."""
    with container.engine.connect() as conn:
        low, high = conn.execute(
            select(func.min(fact_revisions.c.recorded_us), func.max(fact_revisions.c.recorded_us))
        ).one()
    span = high - low
    noon = 1_577_880_000_000_000  # 2020-01-01T12:00:00Z: both edges fall inside a day
    window = queries.FactFilter(actors=["actor-0001"], from_us=noon, to_us=noon + 90 * DAY_US)
    now, whole = queries.Axes(), queries.FactFilter()
    quarter, half, three = (queries.Axes(as_of_us=low + k * span // 4) for k in (1, 2, 3))
    cases: list[tuple[str, queries.Axes, queries.FactFilter, str]] = [
        ("stats by month, whole store", now, whole, "month"),
        ("stats by month, type=StrikeOccurred", now, queries.FactFilter(types=["StrikeOccurred"]), "month"),
        ("stats by day, busiest actor, 90 days, edges inside days", now, window, "day"),
        ("stats by month, as_of a quarter into the log", quarter, whole, "month"),
        ("stats by month, as_of half-way", half, whole, "month"),
        ("stats by month, as_of three quarters in", three, whole, "month"),
        ("stats by day, busiest actor, 90 days, as_of half-way", half, window, "day"),
    ]
    out = [
        (name, _stats(axes, filt, by, scan=True), _stats(axes, filt, by, scan=False)) for name, axes, filt, by in cases
    ]
    out.append(("/v1/actors, first page of 100", _actors(scan=True), _actors(scan=False)))
    return out


def _timed(container: Container, question: Question) -> tuple[float, Any]:
    started = time.perf_counter()
    with container.engine.connect() as conn:
        answer = question(conn)
    return (time.perf_counter() - started) * 1000, answer


def time_questions(container: Container, runs: int) -> list[tuple[str, ...]]:
    rows = []
    for name, scan, tallies in questions(container):
        before: list[float] = []
        after: list[float] = []
        for _ in range(runs):  # alternated, so that the machine's load falls on both alike
            ms, expected = _timed(container, scan)
            before.append(ms)
            ms, got = _timed(container, tallies)
            after.append(ms)
            if got != expected:
                raise SystemExit(f"the tallies and the scan disagree on {name!r}")
        b, a = statistics.median(before), statistics.median(after)
        rows.append((name, f"{b:.1f}", f"{a:.2f}", f"{pct(after, 95):.2f}", f"{b / a:.0f}x"))
        progress(f"  {name}: {b:.1f} -> {a:.2f} ms")
    return rows


class _NoTallies(Tallies):
    """The projection as it was before the tallies: it counts nothing."""

    def replace(self, *_: Any) -> None:
        return None

    def write(self, *_: Any) -> None:
        return None


def rebuild_rate(container: Container, tallies: type[Tallies]) -> float:
    projection.Tallies = tallies  # type: ignore[attr-defined]
    try:
        started = time.perf_counter()
        events = container.read_models.rebuild()
        return events / (time.perf_counter() - started)
    finally:
        projection.Tallies = Tallies  # type: ignore[attr-defined]


def throughput(container: Container) -> list[tuple[str, ...]]:
    rates: dict[str, list[float]] = {"without tallies": [], "with tallies": []}
    for _ in range(2):
        for name, kind in (("without tallies", _NoTallies), ("with tallies", Tallies)):
            rates[name].append(rebuild_rate(container, kind))
            progress(f"  rebuild {name}: {rates[name][-1]:.0f} events/s")
    return [(name, " / ".join(f"{r:.0f}" for r in values)) for name, values in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tallies-bench-") as work:
        if args.backend == "sqlite":
            url = f"sqlite:///{Path(work) / 'store.sqlite3'}"
        else:
            url = os.environ["TIMELINE_BENCH_POSTGRES_URL"]
            reset_postgres(url)
        container = bootstrap(Settings(database_url=url, api_tokens=""))
        tune_garbage_collector()
        try:
            run(container, args)
        finally:
            container.close()


def run(container: Container, args: argparse.Namespace) -> None:
    figures = LoadFigures()
    ns = argparse.Namespace(facts=args.facts, actors=args.actors, seed=1, zipf=0.62, max_load_seconds=7200.0)
    load(container, ns, figures)
    print("\n".join(f"{k}: {v}" for k, v in machine_info().items()))
    print(f"\n{args.facts:,} facts on {args.backend}; the read models caught up with the recorded facts at "
          f"{figures.catch_up_events / figures.catch_up_s:.0f} events/s (tallies included)\n")  # fmt: skip
    rows = time_questions(container, args.runs)
    table(("question", "scan ms (median)", "tallies ms (median)", "tallies p95", "faster"), rows)
    if args.throughput:
        print()
        table(("projection rebuild", "events/s, two runs"), throughput(container))


if __name__ == "__main__":
    main()
