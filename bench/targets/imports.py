"""Targets 2 and 3: ``python -m service import FILE`` into a fresh store (2a the store, 2b with the
read models caught up), ``POST /v1/events/batch`` (2c), import's peak memory for 2N facts beside N
(2d), and ``rebuild-projections`` on the imported store (3)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common.databases import StoreProbe
from bench.common.dataset import BATCH, Generator
from bench.common.errors import BenchError
from bench.common.processes import TOKEN, service_command, start_server, stop_server
from bench.common.stats import mb, progress
from bench.report import Figure
from bench.targets.context import ACTORS, Ctx
from bench.targets.store_baseline import baseline_store


def import_files(ctx: Ctx) -> tuple[Path, Path]:
    """JSON Lines of N and 2N generated facts (the first N lines of both are the same)."""
    if ctx.files:
        return ctx.files
    n = ctx.args.import_facts
    one, two = ctx.workdir / f"facts-{n}.jsonl", ctx.workdir / f"facts-{2 * n}.jsonl"
    progress(f"writing {2 * n:,} generated facts as JSON Lines ...")
    gen = Generator(ACTORS, 11, ctx.args.zipf)
    with open(one, "wb") as f1, open(two, "wb") as f2:
        for i in range(2 * n):
            line = orjson.dumps(gen.fact(i)[0]) + b"\n"
            f2.write(line)
            if i < n:
                f1.write(line)
    ctx.files = (one, two)
    return ctx.files


def timed_import(
    ctx: Ctx, backend: str, path: Path, n: int, phase: str, startup: float | None = None
) -> dict[str, Any]:
    """Fresh database; `migrate` (schema), `migrate` again (start-up cost, unless given), then `import FILE`,
    polled."""
    db_url, db_path = ctx.fresh_db(backend, phase)
    limit = max(300.0, n / 500)
    service_command(f"{phase}-migrate", ["migrate"], db_url, ctx.workdir, limit)
    if startup is None:
        startup = service_command(f"{phase}-startup", ["migrate"], db_url, ctx.workdir, limit).wall_s
    probe = StoreProbe(db_url)
    head_at: list[float] = []

    def poll(elapsed: float) -> None:
        if not head_at and probe.head() >= n:
            head_at.append(elapsed)

    ctx.quiet(f"import ({backend})")
    progress(f"  import of {n:,} facts ({backend}) ...")
    try:
        done = service_command(f"{phase}-import", ["import", str(path)], db_url, ctx.workdir, limit, poll)
        head = probe.head()
        read_models = probe.position("read_models")
    finally:
        probe.close()
    if head != n:
        raise BenchError(f"after the import the store's head is {head}, not {n} {probe.error}".rstrip())
    if read_models != head:
        raise BenchError(f"after the import the read models are at {read_models}, not at the head {head}")
    return {
        "url": db_url,
        "path": db_path,
        "startup": startup,
        "done": done,
        "head_at": head_at[0] if head_at else done.wall_s,
    }


def batch_posts(ctx: Ctx, backend: str, path: Path, n: int) -> tuple[float, str]:
    db_url, db_path = ctx.fresh_db(backend, "batch")
    try:
        child, base = start_server(f"service-{backend} batch", db_url, f"{TOKEN}:write", ctx.workdir)
        try:
            ctx.quiet(f"batch POSTs ({backend})")
            progress(f"  POST /v1/events/batch: {n:,} facts, {BATCH} per request ({backend}) ...")
            deadline = time.monotonic() + max(120.0, n / 200)
            elapsed = 0.0  # in the POSTs only, not in building their bodies
            requests = 0
            with (
                httpx.Client(
                    base_url=base,
                    timeout=120.0,
                    trust_env=False,
                    headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
                ) as client,
                open(path, "rb") as fh,
            ):
                while lines := [line.rstrip(b"\n") for _, line in zip(range(BATCH), fh, strict=False)]:
                    body = b'{"events":[' + b",".join(lines) + b"]}"
                    started = time.perf_counter()
                    response = client.post("/v1/events/batch", content=body)
                    elapsed += time.perf_counter() - started
                    requests += 1
                    if response.status_code != 201:
                        raise BenchError(
                            f"POST /v1/events/batch answered {response.status_code}: {response.text[:300]}"
                        )
                    if time.monotonic() > deadline:
                        raise BenchError("the batch POSTs took too long")
        finally:
            stop_server(child, ctx.report.notes)
        probe = StoreProbe(db_url)
        try:
            head = probe.head()
        finally:
            probe.close()
        if head != n:
            ctx.report.failed = True
        return n / elapsed, (
            f"{requests} requests back to back on one connection, {elapsed:.2f} s in the POSTs; "
            f"store head {head:,} ({'OK' if head == n else 'MISMATCH'})"
        )
    finally:
        ctx.release_db(db_url, db_path)


def run(ctx: Ctx, backend: str) -> list[Figure]:
    only = ctx.args.only
    n = ctx.args.import_facts
    b2 = baseline_store(ctx, backend)["batched"] if 2 in only else None
    one, two = import_files(ctx)
    first = timed_import(ctx, backend, one, n, "import")
    figures: list[Figure] = []
    try:
        if 2 in only:
            figures += import_figures(n, first, b2)
        if 3 in only:
            figures.append(rebuild(ctx, backend, n, first))
    finally:
        ctx.release_db(first["url"], first["path"])
    if 2 not in only:
        return figures
    rate, how = batch_posts(ctx, backend, one, n)
    figures.append(Figure("2c", rate, b2, "B2 batched", how))
    # The start-up is a fixed cost, the same for both files: measured once.
    second = timed_import(ctx, backend, two, 2 * n, "import2", first["startup"])
    ctx.release_db(second["url"], second["path"])
    rss_n, rss_2n = mb(first["done"].maxrss_kib), mb(second["done"].maxrss_kib)
    figures.append(
        Figure(
            "2d",
            rss_2n,
            rss_n,
            "N",
            f"peak RSS (ru_maxrss) of `import`: {rss_n:,.0f} MB for {n:,} facts, {rss_2n:,.0f} MB for "
            f"{2 * n:,} ({2 * n / max(second['done'].wall_s - second['startup'], 1e-3):,.0f} facts/s, "
            "read models caught up)",
        )
    )
    return figures


def import_figures(n: int, first: dict[str, Any], b2: float | None) -> list[Figure]:
    """2a and 2b from one timed import: the store holding all N, and the command's exit; start-up left out."""
    done, startup = first["done"], first["startup"]
    store_s = max(first["head_at"] - startup, 1e-3)
    all_s = max(done.wall_s - startup, 1e-3)
    return [
        Figure(
            "2a",
            n / store_s,
            b2,
            "B2 batched",
            f"{n:,} facts; the store held them {first['head_at']:.2f} s after launch (polled every "
            f"0.1 s); the command's start-up, {startup:.2f} s (a `migrate` on the same store), left "
            f"out; {n / first['head_at']:,.0f} facts/s with it",
        ),
        Figure(
            "2b",
            n / all_s,
            b2,
            "B2 batched",
            f"the command exits after catching up the read models: {done.wall_s:.2f} s from launch, "
            f"{n / done.wall_s:,.0f} facts/s with the start-up (the webhook outbox is not moved by "
            "import; the server catches it up, and with no subscription it writes nothing)",
        ),
    ]


def rebuild(ctx: Ctx, backend: str, n: int, first: dict[str, Any]) -> Figure:
    """3: ``rebuild-projections`` on the imported store; the read models' position checked against the head."""
    ctx.quiet(f"rebuild ({backend})")
    progress(f"  rebuild-projections on the imported store ({backend}) ...")
    rebuilt = service_command(
        f"rebuild-{backend}", ["rebuild-projections"], first["url"], ctx.workdir, max(300.0, n / 500)
    )
    probe = StoreProbe(first["url"])
    try:
        position, head = probe.position("read_models"), probe.head()
    finally:
        probe.close()
    if position != head or not head:
        raise BenchError(
            f"after the rebuild the read models are at {position}, the head at {head} {probe.error}".rstrip()
        )
    startup = first["startup"]
    rebuild_s = max(rebuilt.wall_s - startup, 1e-3)
    return Figure(
        "3",
        n / rebuild_s,
        None,
        "",
        f"{n:,} events replayed into the read models, {rebuilt.wall_s:.2f} s from launch, "
        f"start-up {startup:.2f} s left out ({n / rebuilt.wall_s:,.0f} facts/s with it)",
    )
