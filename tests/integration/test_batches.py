"""All-or-nothing batches: a batch either lands whole, in order, or not at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.facts import DROP, valid_fact
from tests.support.reads import recorded_changes
from tests.support.tokens import READ, WRITE
from tests.support.writes import new_id, post_batch, record


def listed_since(client: TestClient, min_position: int) -> set[str]:
    response = client.get("/v1/events", params={"limit": 1000, "min_position": min_position}, headers=READ)
    assert response.status_code == 200, response.text
    return {item["event_id"] for item in response.json()["items"]}


# --- batches ------------------------------------------------------------------------------


def three_facts() -> list[dict[str, Any]]:
    return [
        valid_fact("StrikeOccurred", event_id=new_id(), occurred_at="2020-01-03"),
        valid_fact("MissionSuspended", event_id=new_id(), occurred_at="2020-01-04"),
        valid_fact("PersonnelRepositioned", event_id=new_id(), occurred_at="2020-01-07"),
    ]


def test_batch_of_three_is_201_with_three_stored_facts_in_order(client: TestClient) -> None:
    facts = three_facts()
    response = post_batch(client, facts)
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [i["event_id"] for i in items] == [f["event_id"] for f in facts]
    assert all(i["revision"] == 1 and i["status"] == "active" for i in items)


def test_batch_positions_increase(client: TestClient) -> None:
    response = post_batch(client, three_facts())
    positions = [i["position"] for i in response.json()["items"]]
    assert positions == sorted(positions) and len(set(positions)) == 3


def test_batch_facts_are_all_listed(client: TestClient) -> None:
    facts = three_facts()
    items = post_batch(client, facts).json()["items"]
    last = max(i["position"] for i in items)
    assert {f["event_id"] for f in facts} <= listed_since(client, last)


def test_batch_facts_without_event_id_get_distinct_ids(client: TestClient) -> None:
    response = post_batch(client, [valid_fact(), valid_fact(), valid_fact()])
    assert response.status_code == 201, response.text
    ids = [i["event_id"] for i in response.json()["items"]]
    assert len(set(ids)) == 3
    assert all(uuid.UUID(i) for i in ids)


BAD_THIRD_FACTS = [
    pytest.param(valid_fact("StrikeOccurred", means="laser"), id="unknown-means"),
    pytest.param(valid_fact(type="EarthquakeOccurred"), id="unknown-type"),
    pytest.param(valid_fact("MissionSuspended", mission=DROP), id="missing-mission"),
    pytest.param(valid_fact(actors=[{"id": "us", "role": "perpetrator"}]), id="wrong-role"),
    pytest.param(valid_fact(occurred_at="2020-01-07T10:00:00"), id="naive-date-time"),
    pytest.param("not a fact", id="not-an-object"),
]


@pytest.mark.parametrize("bad", BAD_THIRD_FACTS)
def test_batch_with_a_bad_fact_is_refused_naming_its_index_and_writes_nothing(
    client: TestClient, container: Container, bad: Any
) -> None:
    before = container.store.max_position()
    response = post_batch(client, [valid_fact(), valid_fact(), bad, valid_fact()])
    assert_problem(response, 422, "events.2")
    assert container.store.max_position() == before


def test_batch_repeating_a_stored_fact_records_only_the_new_ones(client: TestClient) -> None:
    stored = record(client, valid_fact(event_id=new_id()))
    stored_body = valid_fact(event_id=stored["event_id"])
    new = [valid_fact(event_id=new_id(), summary="new one"), valid_fact(event_id=new_id(), summary="new two")]
    response = post_batch(client, [new[0], stored_body, new[1]])
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [i["event_id"] for i in items] == [new[0]["event_id"], stored["event_id"], new[1]["event_id"]]
    assert items[1] == stored
    changes = recorded_changes(client, max(i["position"] for i in items))
    ids = [c["event_id"] for c in changes]
    assert ids.count(stored["event_id"]) == 1
    assert ids.count(new[0]["event_id"]) == 1 and ids.count(new[1]["event_id"]) == 1


def test_batch_with_an_id_stored_under_another_body_is_409_and_writes_nothing(
    client: TestClient, container: Container
) -> None:
    stored = record(client, valid_fact(event_id=new_id()))
    before = container.store.max_position()
    fresh = valid_fact(event_id=new_id(), summary="fresh")
    clash = valid_fact(event_id=stored["event_id"], summary="another body")
    assert_problem(post_batch(client, [fresh, clash]), 409)
    assert container.store.max_position() == before
    gone = client.get(f"/v1/events/{fresh['event_id']}", params={"min_position": before}, headers=READ)
    assert_problem(gone, 404)


def test_batch_naming_one_id_twice_with_different_bodies_is_refused(client: TestClient, container: Container) -> None:
    event_id = new_id()
    before = container.store.max_position()
    response = post_batch(client, [valid_fact(event_id=event_id), valid_fact(event_id=event_id, summary="other")])
    assert 400 <= response.status_code < 500
    assert_problem(response, response.status_code)
    assert container.store.max_position() == before


def test_batch_naming_one_id_twice_with_the_same_body_records_it_once(client: TestClient) -> None:
    fact = valid_fact(event_id=new_id())
    response = post_batch(client, [fact, fact])
    assert response.status_code == 201, response.text
    first, second = response.json()["items"]
    assert first["position"] == second["position"]
    ids = [c["event_id"] for c in recorded_changes(client, first["position"])]
    assert ids.count(fact["event_id"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"events": []}, id="empty-list"),
        pytest.param({"events": [valid_fact() for _ in range(1001)]}, id="1001-facts"),
        pytest.param({}, id="no-events-key"),
        pytest.param({"events": valid_fact()}, id="events-not-a-list"),
        pytest.param({"events": [valid_fact()], "atomic": False}, id="unknown-key"),
        pytest.param([valid_fact()], id="bare-list"),
    ],
)
def test_malformed_batch_is_422_and_writes_nothing(client: TestClient, container: Container, body: Any) -> None:
    before = container.store.max_position()
    response = client.post("/v1/events/batch", json=body, headers=WRITE)
    assert_problem(response, 422)
    assert container.store.max_position() == before


def test_batch_of_1000_is_accepted(client: TestClient) -> None:
    response = post_batch(client, [valid_fact(summary=f"fact {n}") for n in range(1000)])
    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1000
