"""Liveness, readiness and metrics: open to all, for load balancers and Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.responses import Response

from service import migrate
from service.api.deps import ContainerDep
from service.api.responses import JSON
from service.domain.instants import format_instant
from service.store.failures import FULL, UNAVAILABLE

STORAGE_DETAIL = {
    FULL: "the last write found the database's disk full; writes are refused until there is room",
    UNAVAILABLE: "the last write found the database unable to serve",
}

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Database reachable and writable, migrations current, projection lag")
def readyz(container: ContainerDep) -> JSON:
    try:
        current = migrate.is_current(container.engine)
        reading = container.store_reading()
    except Exception as exc:  # readiness reports failure, it does not raise
        return JSON({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
    lag = {name: max(reading.head - at, 0) for name, at in reading.projections.items()}
    # Reads still work on a full disk, but a process that cannot record is not ready to
    # serve its purpose: it says why, and since when (see service/store/health.py).
    failure = container.storage.failure()
    storage = {"status": "ok"} if failure is None else {
        "status": failure.kind,
        "since": format_instant(datetime.fromtimestamp(failure.at, UTC)),
        "detail": STORAGE_DETAIL[failure.kind],
    }
    status = "ready" if current else "migrations pending"
    if failure is not None:
        status = f"storage {failure.kind}"
    body = {"status": status, "migrations_current": current, "storage": storage,
            "position": reading.head, "projection_lag": lag}
    return JSON(body, status_code=200 if status == "ready" else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, append latency, projection lag, webhook deliveries",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(container: ContainerDep) -> Response:
    return Response(container.metrics.render(), media_type=container.metrics.content_type)
