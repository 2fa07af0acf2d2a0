"""Errors the application raises for a caller to answer (each maps to a 4xx)."""

from __future__ import annotations


class TimelineError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFoundError(TimelineError):
    status = 404
    title = "Not found"


class FactConflictError(TimelineError):
    status = 409
    title = "Conflict"


class FactRetractedError(FactConflictError):
    """A change to a fact that has been retracted: a retraction is its last change."""


class PayloadTooLargeError(TimelineError):
    status = 413
    title = "Payload too large"


class InvalidInputError(TimelineError):
    status = 422
    title = "Invalid input"


class NotCaughtUpError(TimelineError):
    status = 503
    title = "Read models not caught up"


class PositionBeyondLogError(LookupError):
    """A position no append has reached: waiting for it could only time out."""

    def __init__(self, position: int, head: int):
        super().__init__(f"position {position} is beyond the log's last position, {head}")
        self.position = position
        self.head = head
