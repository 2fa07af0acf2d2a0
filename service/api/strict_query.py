"""Query parameters an operation does not declare are refused, not ignored.

An ignored parameter is a wrong answer that looks right: ``?actr=us`` (a typo) or
``?country=KW`` (no such filter) would list every fact. So a request naming a query
parameter its operation does not take answers 422, naming each such parameter.

The parameters an operation takes are read from the app's own OpenAPI document, which
FastAPI derives from the routes' declarations: the check and the document cannot disagree,
and no route keeps a list by hand. Routes left out of the document are not checked: the
web page at ``/`` keeps its view in its query string for its script to read, so a shared
link holds parameters the server never sees a use for; the framework's own ``/docs`` and
``/openapi.json`` are pages, not operations.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute
from starlette.types import Scope

from service.api.problems import timeline_problem
from service.api.responses import Problem
from service.domain.errors import InvalidInputError

UNKNOWN_PARAMETER = "this operation has no such query parameter"


def declared_query_parameters(document: dict[str, Any]) -> dict[tuple[str, str], frozenset[str]]:
    """For each (path template, method) of the document, the names of its query parameters."""
    return {
        (path, method.upper()): frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


async def _declared(app: FastAPI) -> dict[tuple[str, str], frozenset[str]]:
    declared = getattr(app.state, "declared_query", None)
    if declared is None:
        # Building the document takes a tenth of a second: once, and off the event loop.
        declared = declared_query_parameters(await run_in_threadpool(app.openapi))
        app.state.declared_query = declared
    return declared


async def unknown_query_problem(app: FastAPI, route: BaseRoute, scope: Scope) -> Problem | None:
    """The 422 for a query parameter the matched operation does not declare; None when all are known.

    The request gate (service.api.auth) asks, once it has matched the route and let the
    caller through: an app-wide dependency did this before, and every dependency FastAPI
    solves costs a read tens of microseconds (docs/performance.md).
    """
    query = scope["query_string"]
    path = getattr(route, "path_format", None)
    if not query or path is None:
        return None
    known = (await _declared(app)).get((path, scope["method"]))
    if known is None:
        return None
    names = dict.fromkeys(name for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    unknown = [name for name in names if name not in known]
    if not unknown:
        return None
    return timeline_problem(
        InvalidInputError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[{"field": name, "message": UNKNOWN_PARAMETER} for name in unknown],
        )
    )
