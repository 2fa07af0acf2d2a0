"""The FastAPI application, built around a container from ``bootstrap``."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api import openapi_extra, problems
from service.api.auth import Authenticate
from service.api.held_answers import AnswerHeldTags
from service.api.limits import BodyLimit
from service.api.observe import ObserveRequests
from service.api.progress import Progress
from service.api.routes import (
    actors,
    changes,
    events,
    exports,
    health,
    state,
    stats,
    stream,
    subscriptions,
)
from service.api.routes import web as web_page
from service.api.schemas import ProblemDoc
from service.bootstrap import Container, bootstrap
from service.observability import logs
from service.runtime import tune_garbage_collector
from service.settings import Settings
from service.store.group_commit import GroupCommitter

DESCRIPTION = (
    "Crisis facts as an event-sourced record: per-actor timelines, the situation at any date "
    "(`at`), the record as this service knew it at any time (`as_of`), and as it had been "
    "published by any date (`reported_by`)."
)


def create_app(container: Container | None, *, run_workers: bool = False, owns_container: bool = False) -> FastAPI:
    """The app; ``run_workers`` runs the projections in this process while it serves.

    ``owns_container``: the app closes the container when it shuts down.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_workers and container is not None:
            container.start_workers()
        try:
            yield
        finally:
            if container is not None:
                # Off the loop: the last group may still be committing.
                await asyncio.to_thread(app.state.appends.close)
            if run_workers and container is not None:
                container.stop_workers()
            if owns_container and container is not None:
                container.close()

    # FastAPI's /docs and /redoc load their scripts from a CDN: web_page serves /docs from the package.
    app = FastAPI(
        title="Crisis timeline",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    if container is not None:
        app.state.appends = GroupCommitter(container.store.record_facts)
        app.state.progress = Progress(container)
    problems.install(app)
    routers = [m.router for m in (events, actors, state, stats, exports, changes, stream, subscriptions, health)]
    for router in routers:
        app.include_router(router)
    web_page.install(app)
    # Outermost last: the request id is set before anything is logged or measured, and
    # who may call is settled before any body byte is read.
    # The routes as declared, in include order: the framework keeps included routers in a
    # form of its own, and who may call, and which methods a path takes, are read from these.
    app.state.routes = [route for router in routers for route in router.routes]
    app.add_middleware(BodyLimit)
    app.add_middleware(AnswerHeldTags)
    app.add_middleware(Authenticate, routes=app.state.routes)
    app.add_middleware(ObserveRequests, metrics=container.metrics if container is not None else None)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    return app


PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDoc"}}}
ERRORS = {
    "400": "Malformed JSON",
    "401": "Missing or unknown bearer token",
    "403": "The token lacks the scope this call needs",
    "413": "Body too large",
    "422": "Invalid input, or a query parameter the operation does not take; `errors` names each field",
    "503": "The database is unavailable, or the read models have not reached `min_position` in time (see Retry-After)",
    "507": "The database's disk is full; nothing was recorded",
}
WRITES = frozenset({"post", "put", "patch", "delete"})


# The document depends only on the routes it shows, which are the routers' own (module-level)
# objects, the same for every app of a process; building it takes a fifth of a second, so it is
# built once per process, not once per app (a test suite makes a thousand apps).
_DOCUMENTS: dict[tuple[int, ...], dict[str, Any]] = {}


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error answer as the problem+json it really is."""
    if app.openapi_schema:
        return app.openapi_schema
    shown = tuple(id(route) for route in app.routes if getattr(route, "include_in_schema", False))
    if shown not in _DOCUMENTS:
        _DOCUMENTS[shown] = _build_document(app)
    app.openapi_schema = copy.deepcopy(_DOCUMENTS[shown])
    return app.openapi_schema


def _build_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            params = {p["name"] for p in operation.get("parameters", [])}
            wanted = {"422"}
            if path.startswith("/v1/"):
                wanted |= {"401", "403"}
            if "requestBody" in operation:
                wanted |= {"400", "413"}
            if path.startswith("/v1/") or "min_position" in params:
                wanted.add("503")  # every /v1/ call needs the database
            if path.startswith("/v1/") and method in WRITES:
                wanted.add("507")
            for code in wanted:
                responses.setdefault(code, {"description": ERRORS[code]})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = PROBLEM_CONTENT
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ProblemDoc"] = ProblemDoc.model_json_schema(ref_template="#/components/schemas/{model}")
    openapi_extra.refine(document)
    return document


def app_from_environment() -> FastAPI:
    """One API process of ``serve --processes N``: settings from the environment, schema already migrated."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(bootstrap(settings, apply_migrations=False), owns_container=True)
    tune_garbage_collector()
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document; building it needs no database."""
    return create_app(None).openapi()
