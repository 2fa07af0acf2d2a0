"""The FastAPI application, built around a container from ``bootstrap``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.api import problems
from service.api.limits import BodyLimit
from service.api.routes import actors, changes, events, health, state, stream, subscriptions
from service.bootstrap import Container

DESCRIPTION = (
    "Crisis facts as an event-sourced record: per-actor timelines, the situation at any date "
    "(`at`), the record as this service knew it at any time (`as_of`), and as it had been "
    "published by any date (`reported_by`)."
)


def create_app(container: Container | None, *, run_workers: bool = False) -> FastAPI:
    """The app; ``run_workers`` runs the projections in this process while it serves."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_workers and container is not None:
            container.start_workers()
        try:
            yield
        finally:
            if run_workers and container is not None:
                container.stop_workers()

    app = FastAPI(title="Crisis timeline", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.container = container
    problems.install(app)
    for module in (events, actors, state, changes, stream, subscriptions, health):
        app.include_router(module.router)
    app.add_middleware(BodyLimit)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document; building it needs no database."""
    return create_app(None).openapi()
