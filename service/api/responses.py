"""JSON and problem+json responses, serialised once with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from service.readmodels.paging import Page


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Problem(Response):
    """RFC 9457 problem details."""

    media_type = "application/problem+json"

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        if errors:
            body["errors"] = errors
        super().__init__(content=body, status_code=status, headers=headers)

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def malformed_json(message: str = "not valid JSON") -> Problem:
    """The 400 for a body that is not (strict) JSON."""
    detail = (
        "the request body is not valid JSON"
        if message == "not valid JSON"
        else (f"the request body is not strict JSON: {message}")
    )
    return Problem(
        400, "Malformed JSON", detail, errors=[{"field": "body", "message": message, "type": "json_invalid"}]
    )


def page_body(page: Page) -> dict[str, Any]:
    return {"items": page.items, "next_cursor": page.next_cursor}
