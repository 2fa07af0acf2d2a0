"""``GET /v1/events`` filtered by actors and roles, page by page, and the same filter in exports and counts.

A fact that names several of the wanted actors is listed once; pages of any size add up
to the whole list in (occurred time, position) order.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.facts import valid_fact
from tests.support.tokens import READ
from tests.support.writes import record, retract


def strike(day: int, *actors: tuple[str, str]) -> dict[str, Any]:
    return valid_fact(
        "StrikeOccurred",
        occurred_at=f"2020-02-{day:02d}T12:00:00Z",
        summary=f"strike on day {day}",
        actors=[{"id": actor, "role": role} for actor, role in actors],
    )


def pages(client: TestClient, limit: int, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/events", params=query, headers=READ).json()
        ids += [item["summary"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never ended")


@pytest.fixture
def named(client: TestClient) -> dict[str, Any]:
    facts = [
        strike(1, ("alpha", "perpetrator"), ("beta", "target")),
        strike(2, ("alpha", "perpetrator")),
        strike(3, ("gamma", "perpetrator"), ("beta", "target")),
        strike(4, ("beta", "perpetrator"), ("alpha", "target"), ("alpha", "ordered_by")),
        strike(5, ("gamma", "perpetrator")),
        strike(6, ("alpha", "perpetrator"), ("beta", "target")),
        strike(7, ("beta", "perpetrator")),
    ]
    stored = [record(client, fact) for fact in facts]
    gone = retract(client, stored[5]["event_id"])  # day 6 leaves every list
    assert gone.status_code == 201
    client.get("/v1/events", params={"min_position": gone.json()["change_position"]}, headers=READ)
    return {"stored": stored}


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_pages_of_several_actors_list_each_fact_once_in_order(
    client: TestClient, named: dict[str, Any], limit: int
) -> None:
    assert pages(client, limit, actor="alpha,beta") == [
        "strike on day 1",
        "strike on day 2",
        "strike on day 3",
        "strike on day 4",
        "strike on day 7",
    ]
    assert pages(client, limit, actor="gamma") == ["strike on day 3", "strike on day 5"]
    assert pages(client, limit, actor="alpha", role="target") == ["strike on day 4"]
    assert pages(client, limit, actor="alpha,gamma", role="perpetrator") == [
        "strike on day 1",
        "strike on day 2",
        "strike on day 3",
        "strike on day 5",
    ]
    assert pages(client, limit, role="ordered_by") == ["strike on day 4"]


def test_export_and_counts_take_the_same_actor_filter(client: TestClient, named: dict[str, Any]) -> None:
    exported = client.get("/v1/export", params={"format": "jsonl", "actor": "alpha,beta"}, headers=READ)
    assert [line.count("strike on day") for line in exported.text.splitlines()] == [1] * 5
    stats = client.get("/v1/stats", params={"by": "day", "actor": "alpha,beta"}, headers=READ).json()
    assert [b["count"] for b in stats["buckets"]] == [1, 1, 1, 1, 0, 0, 1]
