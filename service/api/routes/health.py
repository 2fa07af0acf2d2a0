"""Liveness, readiness and metrics: open to all, for load balancers and Prometheus.

Each answers in bounded time whatever the database does. ``/healthz`` touches neither the
database nor any thread: it runs on the event loop, so it answers while requests wait on
a database that has gone away. ``/readyz`` and ``/metrics`` ask the database on threads of
their own (the request thread pool may be taken by such waiting requests), and give up
after PROBE_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache
from typing import TypeVar

from fastapi import APIRouter
from starlette.responses import Response

from service import migrate
from service.api.deps import Database, MetricsDep, StorageDep, StoreReadingDep
from service.api.responses import JSON, Problem
from service.api.schemas import PROBLEM
from service.domain.instants import format_instant
from service.store import failures

STORAGE_DETAIL = {
    failures.FULL: "the last write found the database's disk full; writes are refused until there is room",
    failures.UNAVAILABLE: "the last write found the database unable to serve",
}

router = APIRouter(tags=["operations"])

PROBE_TIMEOUT = 3.0
T = TypeVar("T")


@cache
def _probes() -> ThreadPoolExecutor:
    # Made on first use, not at import: importing the app builds nothing.
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="probe")


async def _probe(work: Callable[[], T]) -> T:
    """``work()`` on a probe thread; TimeoutError after PROBE_TIMEOUT seconds."""
    return await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_probes(), work), PROBE_TIMEOUT)


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Database reachable and writable, migrations current, projection lag")
async def readyz(engine: Database, read_store: StoreReadingDep, storage: StorageDep) -> JSON:
    try:
        current, reading = await _probe(lambda: (migrate.is_current(engine), read_store()))
    except TimeoutError:
        return _not_ready(f"the database did not answer within {PROBE_TIMEOUT:g}s")
    except Exception as exc:  # readiness reports failure, it does not raise
        unavailable = failures.classify(exc) == failures.UNAVAILABLE
        return _not_ready("the database is unavailable" if unavailable else "the database check failed", exc)
    lag = {name: max(reading.head - at, 0) for name, at in reading.projections.items()}
    # Reads still work on a full disk, but a process that cannot record is not ready to
    # serve its purpose: it says why, and since when (see service/store/health.py).
    failure = storage.failure()
    storage_status = (
        {"status": "ok"}
        if failure is None
        else {
            "status": failure.kind,
            "since": format_instant(datetime.fromtimestamp(failure.at, UTC)),
            "detail": STORAGE_DETAIL[failure.kind],
        }
    )
    status = "ready" if current else "migrations pending"
    if failure is not None:
        status = f"storage {failure.kind}"
    body = {
        "status": status,
        "migrations_current": current,
        "storage": storage_status,
        "position": reading.head,
        "projection_lag": lag,
    }
    return JSON(body, status_code=200 if status == "ready" else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, append latency, projection lag, webhook deliveries",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, 503: PROBLEM},
)
async def metrics(figures: MetricsDep) -> Response:
    try:
        text = await _probe(figures.render)
    except TimeoutError:
        return Problem(503, "Database unavailable", f"the database did not answer the scrape within {PROBE_TIMEOUT:g}s")
    return Response(text, media_type=figures.content_type)


def _not_ready(reason: str, exc: BaseException | None = None) -> JSON:
    body = {"status": "unavailable", "reason": reason}
    if exc is not None:
        body["detail"] = type(exc).__name__
    return JSON(body, status_code=503)
