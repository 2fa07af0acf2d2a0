"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

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
        with container.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.is_current(container.engine)
        head = container.store.max_position()
        lag = {w.name: max(head - w.position(), 0) for w in container.projections}
    except Exception as exc:  # readiness reports failure, it does not raise
        return JSON({"status": "unavailable", "detail": type(exc).__name__}, status_code=503)
    ready = current
    body = {"status": "ready" if ready else "migrations pending", "migrations_current": current,
            "position": head, "projection_lag": lag}
    return JSON(body, status_code=200 if ready else 503)
