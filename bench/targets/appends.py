"""Target 1: single-fact appends, ``POST /v1/events`` against a fresh store, beside B1 (the same
stack's echo of a fact-sized POST); afterwards the store is checked against the 2xx answers."""

from __future__ import annotations

from bench.common.databases import ids_in_postgres, ids_in_sqlite
from bench.common.processes import TOKEN, start_server, stop_server
from bench.report import Figure
from bench.targets.context import Ctx
from bench.targets.http import Load, baseline_http, drive


def run(ctx: Ctx, backend: str) -> list[Figure]:
    b1 = baseline_http(ctx, "B1")
    db_url, db_path = ctx.fresh_db(backend, "appends")
    try:
        child, base = start_server(f"service-{backend} appends", db_url, f"{TOKEN}:write", ctx.workdir)
        try:
            result = drive(ctx, child, base, f"appends-{backend}", token=TOKEN)
        finally:
            stop_server(child, ctx.report.notes)
        stored = ids_in_sqlite(db_path) if db_path is not None else ids_in_postgres(db_url)
        account = accounting(ctx, result, stored)
    finally:
        ctx.release_db(db_url, db_path)
    return [Figure("1", result.rps, b1.rps, "B1", f"{result.text()}; {account}")]


def accounting(ctx: Ctx, result: Load, stored: list[str] | None) -> str:
    """The store's facts against the 2xx answers; a mismatch fails the run."""
    if stored is None:
        return "store not read (no psql client)"
    if result.ids is not None:
        same = set(stored) == result.ids
        if not same:
            ctx.report.failed = True
        return f"store {len(stored):,} facts == {len(result.ids):,} answered 201: {'OK' if same else 'MISMATCH'}"
    extra = len(stored) - result.ok_total
    runs = 2 if ctx.args.warmup > 0 else 1
    ok = 0 <= extra <= ctx.args.connections * runs
    if not ok:
        ctx.report.failed = True
    return (
        f"store {len(stored):,} facts, {result.ok_total:,} answered 2xx (warm-up included): "
        f"{'OK' if ok else 'MISMATCH'} (wrk does not count answers in flight when it stops: up to "
        f"{ctx.args.connections} per run)"
    )
