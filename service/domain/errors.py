"""Errors the application raises for a caller to answer; how each is answered is the API's
business (service.api.problems)."""

from __future__ import annotations


class TimelineError(Exception):
    """A request the service refuses; ``errors`` names the fields at fault, if any."""

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFoundError(TimelineError):
    pass


class FactConflictError(TimelineError):
    pass


class FactRetractedError(FactConflictError):
    """A change to a fact that has been retracted: a retraction is its last change."""


class PayloadTooLargeError(TimelineError):
    pass


class InvalidInputError(TimelineError):
    pass


class NotCaughtUpError(TimelineError):
    """The read models did not reach a position in time; asking again later may succeed."""


class PositionBeyondLogError(LookupError):
    """A position no append has reached: waiting for it could only time out."""

    def __init__(self, position: int, head: int):
        super().__init__(f"position {position} is beyond the log's last position, {head}")
        self.position = position
        self.head = head
