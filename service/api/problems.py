"""Every error the API can answer, as problem+json; a 500 is always a bug, and logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.methods import allowed_methods, literal_methods
from service.api.responses import Problem, malformed_json
from service.domain.errors import (
    FactConflictError,
    FactRetractedError,
    InvalidInputError,
    NotCaughtUpError,
    NotFoundError,
    PayloadTooLargeError,
    TimelineError,
)
from service.domain.field_errors import field_errors
from service.store.failures import FULL, STORAGE_ERRORS, UNAVAILABLE, FailureKind

# Seconds a client should wait before retrying while the database is unavailable: about
# what a request takes to find it so (the pool's checkout timeout) and back.
UNAVAILABLE_RETRY_AFTER = 2
READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Answer:
    """How the API answers an error the application raised."""

    status: int
    title: str
    # Seconds to wait before asking again, for errors that may pass by themselves.
    retry_after: int | None = None


# Looked up along the error's class hierarchy: a subclass is answered as its nearest listed base.
ANSWERS: dict[type[TimelineError], Answer] = {
    TimelineError: Answer(400, "Bad request"),
    NotFoundError: Answer(404, "Not found"),
    FactConflictError: Answer(409, "Conflict"),
    FactRetractedError: Answer(409, "Conflict"),
    PayloadTooLargeError: Answer(413, "Payload too large"),
    InvalidInputError: Answer(422, "Invalid input"),
    NotCaughtUpError: Answer(503, "Read models not caught up", retry_after=1),
}


def answer_for(exc: TimelineError) -> Answer:
    return next(ANSWERS[kind] for kind in type(exc).__mro__ if kind in ANSWERS)


def timeline_problem(exc: TimelineError) -> Problem:
    answer = answer_for(exc)
    headers = None if answer.retry_after is None else {"Retry-After": str(answer.retry_after)}
    return Problem(answer.status, answer.title, exc.detail, errors=exc.errors, headers=headers)


log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Problem:
        literal = literal_methods(request)
        if literal and request.method not in literal and any(e["loc"][0] == "path" for e in exc.errors()):
            return _method_not_allowed(literal)
        errors = field_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return malformed_json()
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        invalid = ANSWERS[InvalidInputError]
        return Problem(invalid.status, invalid.title, f"invalid: {fields}", errors=errors)

    @app.exception_handler(TimelineError)
    async def _timeline(_: Request, exc: TimelineError) -> Problem:
        return timeline_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Problem:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # A body that is not even UTF-8: the same answer as any other malformed JSON.
            return malformed_json()
        if exc.status_code == 405:
            return _method_not_allowed(allowed_methods(request))
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, "Error"
        )
        return Problem(exc.status_code, title, str(exc.detail), headers=getattr(exc, "headers", None))

    async def _storage(request: Request, exc: Exception) -> Problem:
        # Handled here rather than by the catch-all: Starlette re-raises what reaches the
        # catch-all after answering, and uvicorn then drops the connection.
        container = request.app.state.container
        kind = container.storage.observe(exc) if container is not None else None
        if kind is None:
            return _unexpected(request, exc)
        log.warning("database %s on %s %s: %s", kind, request.method, request.url.path, str(exc).splitlines()[0])
        return storage_problem(kind, write=request.method not in READS)

    for error_type in STORAGE_ERRORS:
        # All of them are Exceptions; the tuple is typed for the `except` clauses that use it.
        app.add_exception_handler(cast(type[Exception], error_type), _storage)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Problem:
        return _unexpected(request, exc)


def _method_not_allowed(methods: list[str]) -> Problem:
    return Problem(
        405, "Method not allowed", f"this path takes {', '.join(methods)}", headers={"Allow": ", ".join(methods)}
    )


def _unexpected(request: Request, exc: Exception) -> Problem:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Problem(500, "Internal server error", "an unexpected error occurred; it has been logged")


def storage_problem(kind: FailureKind, *, write: bool) -> Problem:
    """507 for a full disk, 503 for a database that cannot serve now."""
    if kind == FULL:
        outcome = "nothing was recorded" if write else "this read could not be answered"
        return Problem(507, "Insufficient storage", f"the database's disk is full; {outcome}")
    assert kind == UNAVAILABLE
    # A write whose connection broke after its commit was recorded though it is answered
    # 503: the client cannot tell, so the answer says how to retry safely.
    outcome = (
        "retry later; a fact sent again with the same event_id is never recorded twice" if write else "retry later"
    )
    return Problem(
        503,
        "Database unavailable",
        f"the database did not answer in time; {outcome}",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
    )
