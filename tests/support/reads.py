"""Reads over HTTP as a client makes them, and the instants of queries into the past."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.support.tokens import READ

MICROSECOND = timedelta(microseconds=1)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def just_before(text: str) -> str:
    """The last microsecond before an instant the service answered (as_of is inclusive)."""
    return iso(instant(text) - MICROSECOND)


def get_ok(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params={k: v for k, v in params.items() if v is not None}, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()


def fact_by_id(client: TestClient, event_id: str, **params: Any) -> dict[str, Any]:
    return get_ok(client, f"/v1/events/{event_id}", **params)


def fact_lookup(client: TestClient, event_id: str, **params: Any) -> Response:
    return client.get(f"/v1/events/{event_id}", params=params, headers=READ)


def listed(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return get_ok(client, "/v1/events", limit=1000, **params)["items"]


def listed_ids(client: TestClient, **params: Any) -> list[str]:
    return [item["event_id"] for item in listed(client, **params)]


def timeline(client: TestClient, actor: str, **params: Any) -> list[dict[str, Any]]:
    return get_ok(client, f"/v1/actors/{actor}/timeline", limit=1000, **params)["items"]


def timeline_ids(client: TestClient, actor: str, **params: Any) -> list[str]:
    return [item["event_id"] for item in timeline(client, actor, **params)]


def state(client: TestClient, actor: str, **params: Any) -> dict[str, Any]:
    return get_ok(client, f"/v1/actors/{actor}/state", **params)


def world(client: TestClient, **params: Any) -> dict[str, dict[str, Any]]:
    return get_ok(client, "/v1/state", **params)["actors"]


def revisions(client: TestClient, event_id: str, **params: Any) -> list[dict[str, Any]]:
    return fact_by_id(client, event_id, **params)["revisions"]


def change_feed(client: TestClient, event_id: str, min_position: int) -> list[dict[str, Any]]:
    body = get_ok(client, "/v1/changes", after=0, limit=1000, min_position=min_position)
    return [item for item in body["items"] if item["event_id"] == event_id]


def recorded_changes(client: TestClient, min_position: int) -> list[dict[str, Any]]:
    """Every 'recorded' change in the changes feed, once the read models reach min_position."""
    response = client.get("/v1/changes", params={"after": 0, "limit": 1000, "min_position": min_position}, headers=READ)
    assert response.status_code == 200, response.text
    return [c for c in response.json()["items"] if c["kind"] == "recorded"]
