"""What the API answers, checked the way a client reads it."""

from __future__ import annotations

from typing import Any

from httpx import Response

PROBLEM_JSON = "application/problem+json"


def field_matches(actual: str, expected: str) -> bool:
    """``actors`` matches ``actors`` and ``actors.0.role``; not ``actors_x``."""
    return actual == expected or actual.startswith(expected + ".")


def assert_problem(response: Response, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer with this status; with ``fields``, an error naming one of them."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body, body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if fields:
        named = [e.get("field", "") for e in body.get("errors", [])]
        assert any(field_matches(n, f) for n in named for f in fields), (
            f"expected an error naming {' or '.join(fields)}; errors name {named}"
        )
    return body
