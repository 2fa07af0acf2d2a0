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

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

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


async def refuse_unknown_query(request: Request) -> None:
    """An app-wide dependency: 422 for a query parameter the matched operation does not declare.

    It runs before the route's own dependencies, auth included: like malformed JSON, a
    malformed request is answered as such whoever sends it (the names are public anyway).
    """
    if not request.query_params:
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    known = (await _declared(request.app)).get((path, request.method)) if path else None
    if known is None:
        return
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[{"field": name, "message": UNKNOWN_PARAMETER} for name in unknown],
        )
