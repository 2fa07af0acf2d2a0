"""Targets 4, 5 and 8: a skewed store of ``--facts`` facts loaded in-process; the median and the
busiest actor's state and timelines (4a-4k); the cost growth of an append and of the median and
busiest actor's state as the store grows (5, up to ``--growth-facts``); and the reads over HTTP
(4l, 4m, 8: ``bench.targets.state_http``)."""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common.dataset import BATCH, Generator, LoadFigures, load
from bench.common.stats import fmt, fmt_ms, fmt_pct, pct, progress
from bench.report import Figure
from bench.targets.context import ACTORS, DISTURBED_PCT, Ctx
from bench.targets.state_http import SMALL_STORE, full_store_rows, small_store_rows
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


@dataclass
class Growth:
    """The cost-growth curve as it is measured: the report's rows and the figures of 5a and 5b."""

    rows: list[tuple[str, ...]] = field(default_factory=list)
    points: list[tuple[int, float | None, float | None]] = field(default_factory=list)  # facts, median, busiest p50
    loaded: int = 0


def run(ctx: Ctx, backend: str) -> list[Figure]:
    only = ctx.args.only
    figures: list[Figure] = []
    db_url, db_path = ctx.fresh_db(backend, "state")
    try:
        container = bootstrap(Settings(database_url=db_url, api_tokens=""))
        tune_garbage_collector()  # as the service's commands do
        try:
            growth = Growth()
            sf, small = grow(ctx, container, backend, db_path, db_url, growth)
            if 4 in only:
                figures += state_rows(ctx, container, backend, sf)
            if only & {4, 8}:
                catch_up_all(container, backend)
                figures += full_store_rows(ctx, backend, db_url, sf, small)
            if 5 in only:
                if ctx.args.growth_facts > growth.loaded:
                    load_step(ctx, container, backend, db_path, growth, ctx.args.growth_facts, len(growth.rows))
                ctx.report.curve[backend] = growth.rows
                figures += growth_figures(growth)
        finally:
            container.close()
    finally:
        ctx.release_db(db_url, db_path)
    return figures


def step_sizes(ctx: Ctx) -> list[int]:
    """The sizes the store is loaded to, in steps, up to --facts: the curve's (5) and the small
    store of 8a and 8b."""
    wanted: set[int] = set()
    if 5 in ctx.args.only:
        wanted |= set(CURVE_SIZES)
    if 8 in ctx.args.only:
        wanted.add(SMALL_STORE)
    return sorted({min(s, ctx.args.facts) for s in wanted} | {ctx.args.facts})


def grow(
    ctx: Ctx, container: Container, backend: str, db_path: Path | None, db_url: str, growth: Growth
) -> tuple[StoreFacts, list[Figure] | None]:
    """Load to --facts in steps, measuring the curve at each step with target 5 and serving the
    small store's HTTP rows at SMALL_STORE with target 8 (None when the store is no larger)."""
    sf: StoreFacts | None = None
    small: list[Figure] | None = None
    for step, size in enumerate(step_sizes(ctx)):
        sf = load_step(ctx, container, backend, db_path, growth, size, step)
        if 8 in ctx.args.only and size == SMALL_STORE < ctx.args.facts:
            catch_up_all(container, backend)
            small = small_store_rows(ctx, backend, db_url, sf)
    assert sf is not None
    return sf, small


def load_step(
    ctx: Ctx, container: Container, backend: str, db_path: Path | None, growth: Growth, size: int, step: int
) -> StoreFacts:
    """More facts up to ``size``; the store's figures, and the curve's row with target 5."""
    progress(f"  loading to {size:,} facts ({backend}) ...")
    load_s, lf = load_more(ctx, container, size - growth.loaded, step)
    growth.loaded = size
    ctx.report.details.append(("5", backend, f"load to {size:,}: {load_text(lf, load_s)}"))
    if 5 not in ctx.args.only:
        return store_facts(container, db_path)
    return growth_row(ctx, container, backend, db_path, step, load_s, growth)


def load_text(lf: LoadFigures, load_s: float) -> str:
    """Where a load step's time went (the loader's own phases)."""
    append = f"{lf.facts / lf.append_s:,.0f} facts/s" if lf.append_s else "-"
    return (
        f"{load_s:.1f} s in all: {lf.facts:,} facts validated {lf.validate_s:.1f} s, appended in batches of "
        f"{BATCH:,} through record_facts {lf.append_s:.1f} s ({append}), read models caught up "
        f"{lf.catch_up_s:.1f} s ({lf.catch_up_events:,} events); {lf.corrections:,} corrections "
        f"{lf.corrections_s:.1f} s and {lf.retractions:,} retractions {lf.retractions_s:.1f} s (one command "
        f"each: the store has no batch of them), caught up {lf.catch_up_changes_s:.1f} s"
        + (f"; ANALYZE {lf.analyze_s:.1f} s" if lf.analyze_s else "")
    )


def catch_up_all(container: Container, backend: str) -> None:
    """Every projection caught up, so that a server started on the store has nothing to do first."""
    progress(f"  catching up every projection before serving ({backend}) ...")
    for worker in container.projections:
        worker.catch_up()


def load_more(ctx: Ctx, container: Container, n: int, step: int) -> tuple[float, LoadFigures]:
    """n more facts through the shared loader (a seed per step: new facts, same distribution)."""
    ns = argparse.Namespace(
        facts=n, actors=ACTORS, seed=1 + step * 1000, zipf=ctx.args.zipf, max_load_seconds=max(900.0, n / 250)
    )
    figures = LoadFigures()
    started = time.perf_counter()
    load(container, ns, figures)
    return time.perf_counter() - started, figures


def growth_row(
    ctx: Ctx, container: Container, backend: str, db_path: Path | None, step: int, load_s: float, growth: Growth
) -> StoreFacts:
    """At one size: a single-fact append's cost and the median and busiest actor's state, in-process."""
    ctx.quiet(f"growth at {growth.loaded} facts ({backend})")
    appends = single_appends(container, 500 + step, ctx.args.appends, ctx.args.zipf)
    container.read_models.catch_up()
    sf = store_facts(container, db_path)
    params = make_params(random.Random(7 + step), "now", sf, ctx.args.query_warmup + ctx.args.queries)
    s = query_series(ctx, container, "state median", sf.median, run_state(sf.median), params)
    b = query_series(ctx, container, "state busiest", sf.busiest, run_state(sf.busiest), params)
    growth.points.append((sf.facts, pct(s.times_ms, 50), pct(b.times_ms, 50)))
    growth.rows.append(
        (
            f"{sf.facts:,}",
            f"{load_s:.1f}",
            fmt(pct(appends, 50), ".2f"),
            fmt(pct(appends, 99), ".2f"),
            fmt(pct(s.times_ms, 50), ".2f"),
            fmt(pct(s.times_ms, 99), ".2f"),
            f"{sf.median} ({sf.median_facts:,})",
            fmt(pct(b.times_ms, 50), ".2f"),
            fmt(pct(b.times_ms, 99), ".2f"),
            f"{sf.busiest} ({sf.busiest_facts:,}, {100 * sf.busiest_facts / sf.facts:.1f}%)",
        )
    )
    return sf


def growth_figures(growth: Growth) -> list[Figure]:
    """5a and 5b: the state p50 at the largest size beside the smallest's."""
    (small, m0, b0), (large, m1, b1) = growth.points[0], growth.points[-1]
    sizes = f"{small:,} -> {large:,} facts ({len(growth.points)} sizes)"
    return [
        Figure("5a", m1, m0, f"{small:,}", f"median actor's state p50 {sizes}"),
        Figure("5b", b1, b0, f"{small:,}", f"busiest actor's state p50 {sizes}"),
    ]


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
