"""A ``304`` straight from the request head, for a client that holds the current answer.

A read's own 304 (service.api.read_answers) skips its query but still costs FastAPI's
routing and dependency solving, most of a read's fixed cost (docs/performance.md). The
request gate has matched the route and let the caller through already, so this layer,
just inside it, makes the same validators from the head alone: the path, the raw query,
the read models' position, the clock. When the client's ``If-None-Match`` names the tag,
the 304 goes out here; otherwise (or for anything it cannot tell from the head: a
``min_position`` to wait for, an ``as_of`` that does not parse) the request goes on and
the route answers it, 304 or not, exactly as without this layer.

A tag names one exact request (path and query) that was answered 200, so a request whose
tag matches was valid when the tag was made, and is still: validity does not change while
the read models' position does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api import conditional
from service.api.auth import MATCHED, all_dependencies
from service.api.deps import read_answer
from service.api.params import micros, parse_param
from service.api.read_answers import answer_validators
from service.domain.errors import InvalidInputError


@dataclass(frozen=True)
class ReadShape:
    """What of a read's parameters its validators depend on."""

    takes_at: bool
    takes_as_of: bool


def read_shape(route: BaseRoute) -> ReadShape | None:
    """None for a route that does not answer through service.api.read_answers."""
    if not isinstance(route, APIRoute):
        return None
    if not any(dependency.call is read_answer for dependency in all_dependencies(route.dependant)):
        return None
    dependants = [route.dependant, *all_dependencies(route.dependant)]
    names = {param.alias for dependant in dependants for param in dependant.query_params}
    return ReadShape(takes_at="at" in names, takes_as_of="as_of" in names)


class AnswerHeldTags:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._shapes: dict[int, ReadShape | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and MATCHED in scope:
            header = next((value for name, value in scope["headers"] if name == b"if-none-match"), None)
            if header is not None and await self._answered(scope, header.decode("latin-1"), receive, send):
                return
        await self.app(scope, receive, send)

    def _shape(self, route: BaseRoute) -> ReadShape | None:
        key = id(route)
        if key not in self._shapes:
            self._shapes[key] = read_shape(route)
        return self._shapes[key]

    async def _answered(self, scope: Scope, header: str, receive: Receive, send: Send) -> bool:
        route = scope[MATCHED]
        shape = self._shape(route)
        if shape is None:
            return False
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        if "min_position" in query:
            return False
        try:
            as_of_us = micros(parse_param("as_of", query.get("as_of"), end_of_day=True)) if shape.takes_as_of else None
        except InvalidInputError:
            return False
        app = scope["app"]
        container = app.state.container
        found = await answer_validators(
            container,
            app.state.progress,
            scope,
            container.clock(),
            as_of_us,
            clock_dependent=shape.takes_at and "at" not in query,
        )
        if not conditional.matches(header, found.etag):
            return False
        scope["route"] = route  # counted under its route
        await conditional.not_modified(found)(scope, receive, send)
        return True
