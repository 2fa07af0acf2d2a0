"""Who may call what: bearer tokens and scopes, checked before a single body byte is read.

A route declares the scope it needs with ``dependencies=[CanRead]`` (or ``CanWrite``,
``require("admin")``). The check itself runs in ``Authenticate``, an ASGI layer in front of
the body limits: FastAPI reads and parses a request's body before it solves the route's
dependencies, so a check made there would let anyone make the server buffer and parse
megabytes before being told 401. The gate finds the route (and so its scope) in the same
route table the router then uses; the dependency only marks the scope, and refuses to run
without the gate in front, so a route can never be served unchecked.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.responses import Problem
from service.api.strict_query import unknown_query_problem

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}
# Where the gate leaves the scope a request was granted, for the dependency to see.
GRANTED = "timeline.granted_scope"
# Where it leaves the route it matched, for the layers inside it.
MATCHED = "timeline.matched_route"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(scope: str) -> Any:
    async def granted(request: Request) -> None:
        if request.scope.get(GRANTED) is None:
            raise RuntimeError("a route that needs a scope was reached without the Authenticate gate")

    granted.needed_scope = scope  # type: ignore[attr-defined]
    return Depends(granted)


CanRead = require("read")
CanWrite = require("write")


def needed_scope(route: BaseRoute) -> str | None:
    """The highest scope a route's dependencies (its router's included) ask for; None: open."""
    if not isinstance(route, APIRoute):
        return None
    found = [getattr(dep.call, "needed_scope", None) for dep in all_dependencies(route.dependant)]
    scopes = [scope for scope in found if scope is not None]
    return max(scopes, key=SCOPE_RANK.__getitem__, default=None)


def all_dependencies(dependant: Any) -> Iterable[Any]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from all_dependencies(dependency)


def _bearer(scope: Scope) -> str | None:
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _scope_of(token_scopes: dict[str, str], token: str) -> str | None:
    found = None
    # Compare against every token, in constant time each, so timing tells nothing.
    for known, scope in token_scopes.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = scope
    return found


def reads_need_token(token_scopes: dict[str, str], public_reads: bool) -> bool:
    return bool(token_scopes) and not public_reads


def refusal(needed: str, scope: Scope, token_scopes: dict[str, str], public_reads: bool) -> Problem | None:
    """The 401 or 403 for a request that lacks ``needed``; None when it may go on."""
    if needed == "read" and not reads_need_token(token_scopes, public_reads):
        return None
    token = _bearer(scope)
    if token is None:
        detail = (
            "this call needs a bearer token"
            if token_scopes
            else ("writes are disabled: no API tokens are configured (TIMELINE_API_TOKENS)")
        )
        return Problem(401, "Unauthorized", detail, headers=CHALLENGE)
    granted = _scope_of(token_scopes, token)
    if granted is None:
        return Problem(401, "Unauthorized", "unknown token", headers=CHALLENGE)
    if SCOPE_RANK[granted] < SCOPE_RANK[needed]:
        return Problem(403, "Forbidden", f"this call needs the '{needed}' scope")
    return None


class Authenticate:
    """Answers 401/403 from the request head alone, before anything reads the body."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]):
        """``routes``: the routes of the routers the app includes, in the order it includes them
        (the app's own table nests them in a form private to the framework)."""
        self.app = app
        self.routes = [(route, needed_scope(route)) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route, needed = self._match(scope)
            if route is not None and needed is not None:
                container = scope["app"].state.container
                refused = refusal(needed, scope, container.token_scopes, container.settings.public_reads)
                if refused is not None:
                    scope["route"] = route  # so that the refusal is counted under its route
                    await refused(scope, receive, send)
                    return
                scope[GRANTED] = needed
            if route is not None:
                malformed = await unknown_query_problem(scope["app"], route, scope)
                if malformed is not None:
                    scope["route"] = route
                    await malformed(scope, receive, send)
                    return
                scope[MATCHED] = route
        await self.app(scope, receive, send)

    def _match(self, scope: Scope) -> tuple[BaseRoute | None, str | None]:
        found = self._first_match(scope)
        path = scope["path"]
        if found[0] is None and path != "/" and path.endswith("/"):
            # The router would redirect to the path without its slash, after the body was read.
            found = self._first_match({**scope, "path": path.rstrip("/")})
        return found

    def _first_match(self, scope: Scope) -> tuple[BaseRoute | None, str | None]:
        # The router's own matching: the first route that matches path and method wins there too.
        for route, needed in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route, needed
        return None, None
