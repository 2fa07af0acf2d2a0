"""Writes over HTTP as a client makes them: facts recorded, corrected, retracted."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.tokens import WRITE


def post_fact(client: TestClient, fact: Any) -> Response:
    return client.post("/v1/events", json=fact, headers=WRITE)


def record(client: TestClient, fact: dict[str, Any]) -> dict[str, Any]:
    response = post_fact(client, fact)
    assert response.status_code == 201, response.text
    return response.json()


def assert_refused_and_nothing_written(
    client: TestClient, container: Container, body: Any, status: int, *fields: str
) -> dict[str, Any]:
    before = container.store.max_position()
    problem = assert_problem(post_fact(client, body), status, *fields)
    assert container.store.max_position() == before, "a refused fact was written"
    return problem


def correct(
    client: TestClient,
    event_id: str,
    changes: dict[str, Any] | None = None,
    **body: Any,
) -> Response:
    payload: dict[str, Any] = {"reason": "the record was wrong", **body}
    if changes is not None:
        payload["changes"] = changes
    return client.post(f"/v1/events/{event_id}/corrections", json=payload, headers=WRITE)


def corrected(
    client: TestClient,
    event_id: str,
    changes: dict[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    response = correct(client, event_id, changes, **body)
    assert response.status_code == 201, response.text
    return response.json()


def retract(client: TestClient, event_id: str, **body: Any) -> Response:
    payload = {"reason": "a duplicate of another report", **body}
    return client.post(f"/v1/events/{event_id}/retraction", json=payload, headers=WRITE)


def new_id() -> str:
    return str(uuid.uuid4())


def post_batch(client: TestClient, facts: list[Any]) -> Any:
    return client.post("/v1/events/batch", json={"events": facts}, headers=WRITE)
