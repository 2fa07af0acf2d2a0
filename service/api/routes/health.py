"""Liveness, readiness and metrics: open to all, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service import migrate
from service.api.deps import ContainerDep
from service.api.responses import JSON

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Database reachable, migrations current, projection lag")
def readyz(container: ContainerDep) -> JSON:
    try:
        current = migrate.is_current(container.engine)
        reading = container.store_reading()
    except Exception as exc:  # readiness reports failure, it does not raise
        return JSON({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
    lag = {name: max(reading.head - at, 0) for name, at in reading.projections.items()}
    body = {"status": "ready" if current else "migrations pending", "migrations_current": current,
            "position": reading.head, "projection_lag": lag}
    return JSON(body, status_code=200 if current else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics: requests, append latency, projection lag, webhook deliveries",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(container: ContainerDep) -> Response:
    return Response(container.metrics.render(), media_type=container.metrics.content_type)
