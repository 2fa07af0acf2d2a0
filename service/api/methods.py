"""Which methods a path takes, for the ``Allow`` header of a 405.

FastAPI makes one route per method, and Starlette's 405 names the methods of the first route
whose path matched, so ``OPTIONS /v1/events`` was told ``Allow: POST`` though the path takes
GET too. The answer lists every method of every route whose path matches.

A path that matches a route literally for other methods and a route with a parameter for this
one (``GET /v1/events/batch``: the batch takes POST, and ``batch`` is no event id) is a method
the path does not take: 405, not a 422 about an id nobody meant to send.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Route


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this request's path; a literal path's routes first."""
    literal = literal_methods(request)
    if literal:
        return literal  # `/v1/events/batch` is the batch, not an event named "batch"
    methods: set[str] = set()
    for route in request.app.state.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def literal_methods(request: Request) -> list[str]:
    """The methods of routes whose path is exactly this one, with no parameter in it."""
    path = request.scope["path"]
    methods: set[str] = set()
    for route in request.app.state.routes:
        if isinstance(route, Route) and route.methods and route.path == path and not route.param_convertors:
            methods |= route.methods
    return sorted(methods)
