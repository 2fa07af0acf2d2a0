"""Bad read parameters over HTTP: every refusal is a 4xx problem+json naming the parameter, never a 500;
and the 404s and empty answers of actors nobody names (yet).
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.tokens import READ
from tests.support.writes import record

# --- query parameters -------------------------------------------------------------------

BAD_LIST_QUERIES = [
    pytest.param({"limit": 0}, "limit", id="limit-0"),
    pytest.param({"limit": 1001}, "limit", id="limit-1001"),
    pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
    pytest.param({"type": "EarthquakeOccurred"}, "type", id="unknown-type"),
    pytest.param({"type": "StrikeOccurred,Nope"}, "type", id="one-unknown-type-in-list"),
    pytest.param({"role": "pilot"}, "role", id="unknown-role"),
    pytest.param({"actor": "NATO"}, "actor", id="actor-not-a-slug"),
    pytest.param({"from": "2020-13-01"}, "from", id="from-month-13"),
    pytest.param({"from": "January"}, "from", id="from-not-a-date"),
    pytest.param({"to": "2020-01-07T10:00:00"}, "to", id="to-without-offset"),
    pytest.param({"as_of": "2020-01-07T10:00:00"}, "as_of", id="as-of-without-offset"),
    pytest.param({"reported_by": "2020-01-07T10:00:00"}, "reported_by", id="reported-by-without-offset"),
    pytest.param({"from": "2020-02-01", "to": "2020-01-01"}, "to", id="to-before-from"),
    pytest.param({"cursor": "garbage!!"}, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": "bm90IGpzb24"}, "cursor", id="cursor-base64-of-text"),
    pytest.param({"min_position": -1}, "min_position", id="min-position-negative"),
]


@pytest.mark.parametrize(("params", "field"), BAD_LIST_QUERIES)
def test_bad_list_query_is_422_naming_the_parameter(client: TestClient, params: dict, field: str) -> None:
    assert_problem(client.get("/v1/events", params=params, headers=READ), 422, field)


# Cursors are opaque, but a client can still send one it made up: well-formed base64 JSON
# of the right length with the wrong kinds of values. That is bad input too, never a 500.
FORGED_CURSORS = [
    pytest.param("WyJ4IiwieSJd", id="two-strings"),  # ["x","y"]
    pytest.param("WyIyMDIwIix7ImEiOjF9XQ", id="string-and-object"),  # ["2020",{"a":1}]
    pytest.param("WzEuNSwiYSJd", id="float-and-string"),  # [1.5,"a"]
]


def answering_500s(client: TestClient) -> TestClient:
    """The same running app, answering a server error as the 500 a user would get."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.mark.parametrize("cursor", FORGED_CURSORS)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/actors/nato/timeline"])
def test_forged_cursor_is_4xx_not_500(client: TestClient, path: str, cursor: str) -> None:
    position = record(client, valid_fact(actors=[{"id": "nato", "role": "speaker"}]))["position"]
    params = {"cursor": cursor, "min_position": position}
    response = answering_500s(client).get(path, params=params, headers=READ)
    assert_problem(response, 422, "cursor")


@pytest.mark.parametrize("cursor", ["W251bGxd", "WzEuNV0"], ids=["null", "float"])  # [null], [1.5]
def test_forged_actor_list_cursor_is_4xx_not_500(client: TestClient, cursor: str) -> None:
    position = record(client, valid_fact())["position"]
    params = {"cursor": cursor, "min_position": position}
    response = answering_500s(client).get("/v1/actors", params=params, headers=READ)
    assert_problem(response, 422, "cursor")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        pytest.param("/v1/actors/nato/state", {"at": "yesterday"}, "at", id="state-at-yesterday"),
        pytest.param("/v1/actors/nato/state", {"at": "2020-01-07T10:00:00"}, "at", id="state-at-naive"),
        pytest.param("/v1/actors/nato/state", {"as_of": "2020-02-30"}, "as_of", id="state-as-of-feb-30"),
        pytest.param("/v1/actors/nato/timeline", {"limit": 0}, "limit", id="timeline-limit-0"),
        pytest.param("/v1/actors/nato/timeline", {"from": "2020-13-01"}, "from", id="timeline-bad-from"),
        pytest.param("/v1/actors/BAD_ID/timeline", {}, "actor_id", id="timeline-uppercase-id"),
        pytest.param("/v1/actors/BAD_ID/state", {}, "actor_id", id="state-uppercase-id"),
        pytest.param("/v1/events/not-a-uuid", {}, "event_id", id="event-not-a-uuid"),
        pytest.param("/v1/changes", {"after": -1}, "after", id="changes-after-negative"),
        pytest.param("/v1/actors", {"limit": 1001}, "limit", id="actors-limit-1001"),
    ],
)
def test_bad_read_parameter_is_422_naming_it(client: TestClient, path: str, params: dict, field: str) -> None:
    record(client, valid_fact(actors=[{"id": "nato", "role": "speaker"}]))
    assert_problem(client.get(path, params=params, headers=READ), 422, field)


def test_unknown_event_id_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get(f"/v1/events/{uuid.uuid4()}", headers=READ), 404)


@pytest.mark.parametrize("view", ["timeline", "state"])
def test_actor_nobody_names_is_404_problem(client: TestClient, view: str) -> None:
    position = record(client, valid_fact())["position"]
    response = client.get(f"/v1/actors/nobody/{view}", params={"min_position": position}, headers=READ)
    assert_problem(response, 404)


def test_actor_named_only_by_a_later_fact_has_an_empty_state(client: TestClient) -> None:
    fact = record(client, valid_fact(occurred_at="2020-01-07", actors=[{"id": "romania", "role": "speaker"}]))
    response = client.get(
        "/v1/actors/romania/state", params={"at": "2020-01-01", "min_position": fact["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["event_count"] == 0
    assert state["last_event"] is None
    assert state["statements"] == 0


def test_actor_named_only_by_a_later_fact_has_an_empty_timeline(client: TestClient) -> None:
    fact = record(client, valid_fact(occurred_at="2020-01-07", actors=[{"id": "romania", "role": "speaker"}]))
    response = client.get(
        "/v1/actors/romania/timeline", params={"to": "2020-01-01", "min_position": fact["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
