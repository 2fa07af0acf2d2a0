"""Targets 4 and 5: a skewed store of ``--facts`` facts loaded in-process; the median and the
busiest actor's state and timelines (4a-4k), the state over HTTP beside B3 (4l) and the server's
memory (4m); and the cost growth of an append and a state query as the store grows (5)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common.dataset import Generator, LoadFigures, load
from bench.common.errors import BenchError
from bench.common.machine import proc_status_kib
from bench.common.processes import TOKEN, start_server, stop_server
from bench.common.stats import fmt, fmt_ms, fmt_pct, mb, pct, progress
from bench.report import Figure
from bench.targets.context import ACTORS, DISTURBED_PCT, Ctx
from bench.targets.http import baseline_http, drive
from bench.targets.state_queries import (
    Series,
    StoreFacts,
    make_params,
    measure,
    run_state,
    run_timeline,
    store_facts,
)
from service.bootstrap import Container, bootstrap
from service.domain.facts import validate_fact
from service.runtime import tune_garbage_collector
from service.settings import Settings

CURVE_SIZES = (10_000, 100_000)  # the growth curve's steps below --facts


def run(ctx: Ctx, backend: str) -> list[Figure]:
    only = ctx.args.only
    figures: list[Figure] = []
    db_url, db_path = ctx.fresh_db(backend, "state")
    try:
        container = bootstrap(Settings(database_url=db_url, api_tokens=""))
        tune_garbage_collector()  # as the service's commands do
        try:
            sf = grow(ctx, container, backend, db_path)
            if 4 not in only:
                return figures
            figures += state_rows(ctx, container, backend, sf)
            progress(f"  catching up every projection before serving ({backend}) ...")
            for worker in container.projections:
                worker.catch_up()
            ats = [p.at_us for p in make_params(random.Random(3), "now", sf, 200)]
        finally:
            container.close()
        figures += state_http(ctx, backend, db_url, sf, ats)
    finally:
        ctx.release_db(db_url, db_path)
    return figures


def grow(ctx: Ctx, container: Container, backend: str, db_path: Path | None) -> StoreFacts:
    """Load to --facts; with target 5, in steps, measuring at each step (the report's curve)."""
    sizes = (
        sorted({min(s, ctx.args.facts) for s in CURVE_SIZES} | {ctx.args.facts})
        if 5 in ctx.args.only
        else [ctx.args.facts]
    )
    loaded = 0
    curve: list[tuple[str, ...]] = []
    sf: StoreFacts | None = None
    for step, size in enumerate(sizes):
        progress(f"  loading to {size:,} facts ({backend}) ...")
        load_s = load_more(ctx, container, size - loaded, step)
        loaded = size
        if 5 in ctx.args.only:
            sf, row = growth_row(ctx, container, backend, db_path, step, size, load_s)
            curve.append(row)
    if 5 in ctx.args.only:
        ctx.report.curve[backend] = curve
    return sf or store_facts(container, db_path)


def load_more(ctx: Ctx, container: Container, n: int, step: int) -> float:
    """n more facts through the shared loader (a seed per step: new facts, same distribution)."""
    ns = argparse.Namespace(
        facts=n, actors=ACTORS, seed=1 + step * 1000, zipf=ctx.args.zipf, max_load_seconds=max(900.0, n / 250)
    )
    started = time.perf_counter()
    load(container, ns, LoadFigures())
    return time.perf_counter() - started


def growth_row(
    ctx: Ctx, container: Container, backend: str, db_path: Path | None, step: int, size: int, load_s: float
) -> tuple[StoreFacts, tuple[str, ...]]:
    """At one size: a single-fact append's cost and the median actor's state, in-process."""
    ctx.quiet(f"growth at {size} facts ({backend})")
    appends = single_appends(container, 500 + step, ctx.args.appends, ctx.args.zipf)
    container.read_models.catch_up()
    sf = store_facts(container, db_path)
    params = make_params(random.Random(7 + step), "now", sf, ctx.args.query_warmup + ctx.args.queries)
    s = query_series(ctx, container, "state median", sf.median, run_state(sf.median), params)
    return sf, (
        f"{sf.facts:,}",
        f"{load_s:.1f}",
        fmt(pct(appends, 50), ".2f"),
        fmt(pct(appends, 99), ".2f"),
        fmt(pct(s.times_ms, 50), ".2f"),
        fmt(pct(s.times_ms, 99), ".2f"),
        f"{sf.median} ({sf.median_facts:,})",
        f"{100 * sf.busiest_facts / sf.facts:.1f}%",
    )


def single_appends(container: Container, seed: int, count: int, zipf: float, warmup: int = 10) -> list[float]:
    """In-process record_facts([one fact]) times in ms (validation not included)."""
    gen = Generator(ACTORS, seed, zipf)
    facts = [validate_fact(gen.fact(i)[0]) for i in range(count + warmup)]
    times = []
    for i, fact in enumerate(facts):
        started = time.perf_counter()
        container.store.record_facts([fact])
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


def query_series(
    ctx: Ctx, container: Container, name: str, actor: str, run: Any, params: list[Any], backend: str = ""
) -> Series:
    """One measured row; on SQLite a row disturbed by other processes is remembered for a note."""
    series = Series(name, actor)
    measure(container.engine, series, params, run, warmup=ctx.args.query_warmup, max_seconds=ctx.args.query_seconds)
    if backend == "sqlite" and series.other_cpu is not None and series.other_cpu > DISTURBED_PCT:
        ctx.disturbed.append(name)
    return series


def series_text(s: Series) -> str:
    n = f"{len(s.times_ms)}" + (" (cut short)" if s.cut_short else "")
    rows = f"{sum(s.rows) / len(s.rows):.0f}" if s.rows else "-"
    return (
        f"{s.actor}: n {n}, rows {rows}, p50 {fmt_ms(pct(s.times_ms, 50))} / p99 {fmt_ms(pct(s.times_ms, 99))} / "
        f"max {fmt_ms(max(s.times_ms) if s.times_ms else None)} ms; own CPU {fmt_pct(s.own_cpu)}, "
        f"other {fmt_pct(s.other_cpu)}"
    )


STATE_KEYS = {
    ("median", "now"): ("4a", "4b"),
    ("median", "as_of"): ("4c", "4d"),
    ("median", "as_of_rep"): ("4e", "4f"),
    ("busiest", "now"): (None, "4g"),
    ("busiest", "as_of"): (None, "4h"),
    ("busiest", "as_of_rep"): (None, "4i"),
}


def state_rows(ctx: Ctx, container: Container, backend: str, sf: StoreFacts) -> list[Figure]:
    """4a-4k: the state under each time axis, then the timeline pages."""
    rng = random.Random(2)
    n_all = ctx.args.query_warmup + ctx.args.queries
    kinds = {k: make_params(rng, k, sf, n_all) for k in ("now", "as_of", "as_of_rep")}
    ctx.quiet(f"state queries ({backend})")
    share = 100 * sf.busiest_facts / sf.facts
    ctx.report.details.append(
        (
            "4",
            backend,
            (
                f"store: {sf.facts:,} facts over {sf.actors_named:,} actors (Zipf s={ctx.args.zipf:g}), "
                f"{sf.corrected:,} corrections, {sf.retracted:,} retractions, {sf.size}; "
                f"busiest {sf.busiest} in {sf.busiest_facts:,} facts "
                f"({share:.1f}%), median {sf.median} in {sf.median_facts:,}"
            ),
        )
    )
    figures: list[Figure] = []
    for (who, kind), (k50, k99) in STATE_KEYS.items():
        actor = sf.median if who == "median" else sf.busiest
        progress(f"  state {who} {kind} ({backend}) ...")
        s = query_series(ctx, container, f"state {who} {kind}", actor, run_state(actor), kinds[kind], backend)
        if k50:
            figures.append(Figure(k50, pct(s.times_ms, 50)))
        figures.append(Figure(k99, pct(s.times_ms, 99), detail=series_text(s)))
    for key, actor, from_random in (("4j", sf.median, False), ("4k", sf.busiest, True)):
        progress(f"  timeline {actor} ({backend}) ...")
        s = query_series(
            ctx, container, f"timeline {actor}", actor, run_timeline(actor, from_random), kinds["now"], backend
        )
        figures.append(Figure(key, pct(s.times_ms, 50), detail=series_text(s)))
    if ctx.disturbed:
        ctx.note(
            f"in-process queries ({backend}): other processes used more than {DISTURBED_PCT:g}% "
            f"of a core during {len(ctx.disturbed)} of the rows: those figures are disturbed"
        )
        ctx.disturbed.clear()
    return figures


def state_http(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts, ats: list[int]) -> list[Figure]:
    """4l and 4m: the median actor's state at random dates over HTTP, and the server's memory meanwhile."""
    b3 = baseline_http(ctx, "B3")
    paths = [
        f"/v1/actors/{sf.median}/state?at={dt.datetime.fromtimestamp(a / 1e6, dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        for a in ats
    ]
    child, base = start_server(f"service-{backend} state", db_url, f"{TOKEN}:read", ctx.workdir)
    try:
        check = httpx.get(base + paths[0], headers={"authorization": f"Bearer {TOKEN}"}, timeout=30, trust_env=False)
        if check.status_code != 200:
            raise BenchError(f"GET {paths[0]} answered {check.status_code}: {check.text[:300]}")
        result = drive(ctx, child, base, f"state-{backend}", token=TOKEN, paths=paths)
        rss_now = proc_status_kib(child.process.pid, "VmRSS")
    finally:
        stop_server(child, ctx.report.notes)
    if result.non2xx:
        ctx.note(f"4l ({backend}): {result.non2xx} non-2xx answers")
    return [
        Figure("4l", result.rps, b3.rps, "B3", f"{result.text()}; {len(paths)} random dates for {sf.median}"),
        Figure(
            "4m",
            mb(result.hwm_kib),
            detail=f"VmHWM {mb(result.hwm_kib) or 0:,.0f} MB (peak of the process's life); VmRSS highest "
            f"while serving {mb(result.max_rss_kib) or 0:,.0f} MB, after the window "
            f"{mb(rss_now) or 0:,.0f} MB",
        ),
    ]
