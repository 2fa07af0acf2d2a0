"""The fold checkpoints in-process: an actor's state folded from every row (before) and combined
from ``fold_blocks`` (after), p50/p99 on the three axes for the busiest actor of a skewed store;
the projection's catch-up with and without keeping the blocks; what the blocks take on disk.

    .venv/bin/python -m bench.targets.checkpoints --facts 1000000 [--backend postgres]

Both ways are measured in the same run, on the same store and the same parameters, interleaved
(one naive read, one checkpointed read), so that the machine's noise falls on both alike.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import event, func, select, text

from bench.common.databases import bench_postgres_url, reset_postgres
from bench.common.dataset import LoadFigures, load
from bench.common.stats import fmt_ms, pct, progress, table
from bench.targets.state_queries import Params, StoreFacts, make_params, store_facts
from service.bootstrap import Container, bootstrap
from service.readmodels import checkpoints, queries
from service.readmodels.tables import fold_blocks
from service.runtime import tune_garbage_collector
from service.settings import Settings

KINDS = ("now", "as_of", "reported_by")


def time_reads(container: Container, actor: str, params: list[Params]) -> dict[str, Any]:
    """Per way (naive, blocks): the times in ms, and the queries of one read."""
    ways: dict[str, Callable[..., dict[str, Any]]] = {
        "naive": queries.actor_state_by_rows,
        "blocks": queries.actor_state,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    statements: dict[str, int] = {name: 0 for name in ways}
    with container.engine.connect() as conn:
        counted = [0]

        def count(*_: Any) -> None:
            counted[0] += 1

        event.listen(conn, "before_cursor_execute", count)
        for index, p in enumerate(params):
            answers = []
            for name, read in ways.items():
                counted[0] = 0
                started = time.perf_counter()
                answers.append(read(conn, actor, p.axes, p.at_us))
                times[name].append((time.perf_counter() - started) * 1000)
                statements[name] = max(statements[name], counted[0])
            if answers[0] != answers[1]:
                raise AssertionError(f"the blocks answer differs from the plain fold at {p}")
            if index < 3:  # warm-up reads are not counted
                for name in ways:
                    times[name].clear()
    return {"times": times, "statements": statements}


def catch_up_rates(container: Container) -> dict[str, float]:
    """Rebuild the read models twice, without and with the blocks: events per second."""
    rates = {}
    for name, patch in (("without blocks", True), ("with blocks", False)):
        started = time.perf_counter()
        if patch:
            with mock.patch.object(checkpoints, "maintain", lambda *_a, **_k: None):
                applied = container.read_models.rebuild()
        else:
            applied = container.read_models.rebuild()
        rates[name] = applied / (time.perf_counter() - started)
    return rates


def storage(container: Container) -> str:
    with container.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(fold_blocks)).scalar_one()
        if conn.dialect.name == "postgresql":
            size = conn.execute(text("SELECT pg_total_relation_size('fold_blocks')")).scalar_one()
            how = "pg_total_relation_size"
        else:
            try:
                size = conn.execute(
                    text("SELECT SUM(pgsize) FROM dbstat WHERE name IN ('fold_blocks', 'ix_fold_blocks_current')")
                ).scalar_one()
                how = "dbstat, table and index"
            except Exception:  # noqa: BLE001 - a SQLite built without dbstat
                size = conn.execute(select(func.sum(func.length(fold_blocks.c.summary)))).scalar_one()
                how = "summaries' text only"
    return f"{rows:,} rows, {size / 2**20:.1f} MiB ({how})"


def run(container: Container, args: argparse.Namespace) -> None:
    figures = LoadFigures()
    load(container, args, figures)
    sf: StoreFacts = store_facts(container, None)
    progress(f"  busiest actor {sf.busiest}: {sf.busiest_facts:,} facts of {sf.facts:,}")
    rows = []
    for kind in KINDS:
        params = make_params(random.Random(7), "now" if kind == "now" else kind, sf, args.reads + 3)
        found = time_reads(container, sf.busiest, params)
        for name in ("naive", "blocks"):
            series = found["times"][name]
            rows.append((kind, name, fmt_ms(pct(series, 50)), fmt_ms(pct(series, 99)), str(found["statements"][name])))
    print(f"store: {sf.facts:,} facts, busiest actor {sf.busiest_facts:,}; fanout {args.fanout}")
    table(("axis", "way", "p50 ms", "p99 ms", "queries"), rows)
    print(f"catch-up of the load: {figures.catch_up_events / figures.catch_up_s:,.0f} events/s (with blocks)")
    print(f"blocks: {storage(container)}")
    if args.rebuild:
        for name, rate in catch_up_rates(container).items():
            print(f"rebuild {name}: {rate:,.0f} events/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=2000)
    parser.add_argument("--zipf", type=float, default=0.62)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--fanout", type=int, default=checkpoints.FANOUT)
    parser.add_argument("--rebuild", action="store_true", help="also time rebuilds without and with the blocks")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--max-load-seconds", type=float, default=7200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = bench_postgres_url(args.backend, "the checkpoints benchmark")
        if url is None:
            sys.exit(2)
        if url:
            reset_postgres(url)
        else:
            url = f"sqlite:///{Path(folder) / 'checkpoints.sqlite3'}"
        container = bootstrap(Settings(database_url=url, api_tokens="", _env_file=None))
        container.read_models.projection.fold_fanout = args.fanout  # type: ignore[attr-defined]
        tune_garbage_collector()
        try:
            run(container, args)
        finally:
            container.close()


if __name__ == "__main__":
    main()
