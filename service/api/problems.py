"""Every error the API can answer, as problem+json; a 500 is always a bug, and logged."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.responses import Problem, malformed_json
from service.domain.errors import NotCaughtUpError, TimelineError
from service.domain.field_errors import field_errors
from service.store import failures

# Seconds a client should wait before retrying while the database is unavailable: about
# what a request takes to find it so (the pool's checkout timeout) and back.
UNAVAILABLE_RETRY_AFTER = 2

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Problem:
        errors = field_errors(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return malformed_json()
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return Problem(422, "Invalid input", f"invalid: {fields}", errors=errors)

    @app.exception_handler(TimelineError)
    async def _timeline(_: Request, exc: TimelineError) -> Problem:
        headers = {"Retry-After": "1"} if isinstance(exc, NotCaughtUpError) else None
        return Problem(exc.status, exc.title, exc.detail, errors=exc.errors, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Problem:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # A body that is not even UTF-8: the same answer as any other malformed JSON.
            return malformed_json()
        title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, "Error"
        )
        return Problem(exc.status_code, title, str(exc.detail), headers=getattr(exc, "headers", None))

    async def _storage(request: Request, exc: Exception) -> Problem:
        if failures.classify(exc) == failures.UNAVAILABLE:
            # Expected while the database is down: one line, no traceback per request.
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
            return Problem(
                503, "Database unavailable", "the database did not answer in time; nothing was recorded; retry later",
                headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
            )
        return _bug_answer(request, exc)

    # By class, so that Starlette answers here rather than in its outermost error middleware
    # (which logs and re-raises everything it catches).
    for storage_error in failures.STORAGE_ERRORS:
        app.add_exception_handler(storage_error, _storage)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Problem:
        return _bug_answer(request, exc)


def _bug_answer(request: Request, exc: Exception) -> Problem:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Problem(500, "Internal server error", "an unexpected error occurred; it has been logged")
