"""Retractions over HTTP: a retracted fact leaves lists, timelines and states from then on,
and stays readable by id. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.reads import (
    change_feed,
    fact_by_id,
    get_ok,
    instant,
    just_before,
    listed,
    listed_ids,
    revisions,
    state,
    timeline_ids,
    world,
)
from tests.support.time_travel import CORRECTION_SOURCE, statement
from tests.support.writes import correct, corrected, record, retract

# --- retraction -----------------------------------------------------------------------------


def everywhere(client: TestClient, event_id: str, actor: str, **params: Any) -> dict[str, Any]:
    """Where a statement by ``actor`` shows: list, timeline, actor state, world state."""
    return {
        "listed": event_id in listed_ids(client, **params),
        "timeline": event_id in timeline_ids(client, actor, **params),
        "statements": state(client, actor, **params)["statements"],
        "in_world": actor in world(client, **params),
    }


SHOWN = {"listed": True, "timeline": True, "statements": 1, "in_world": True}
GONE = {"listed": False, "timeline": False, "statements": 0, "in_world": False}


def test_a_retracted_fact_leaves_lists_timelines_and_states_but_stays_readable(client: TestClient) -> None:
    fact = record(client, statement("retracted-speaker", "2020-01-06"))
    event_id = fact["event_id"]
    assert everywhere(client, event_id, "retracted-speaker", min_position=fact["position"]) == SHOWN
    fixed = corrected(client, event_id, {"summary": "a corrected headline"}, reason="typo")
    assert everywhere(client, event_id, "retracted-speaker", min_position=fixed["change_position"]) == SHOWN

    response = retract(client, event_id, reason="a duplicate of another report")
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["status"], answer["revision"], answer["event_id"]) == ("retracted", 3, event_id)
    assert answer["change_position"] > fixed["change_position"]
    wait = answer["change_position"]

    assert everywhere(client, event_id, "retracted-speaker", min_position=wait) == GONE
    read = fact_by_id(client, event_id, min_position=wait)
    assert (read["status"], read["revision"], read["summary"]) == ("retracted", 3, "a corrected headline")
    kinds = [(r["revision"], r["kind"]) for r in read["revisions"]]
    assert kinds == [(1, "recorded"), (2, "corrected"), (3, "retracted")]
    assert read["revisions"][2]["reason"] == "a duplicate of another report"
    assert not read["revisions"][2]["changes"]

    before = just_before(read["revisions"][2]["recorded_at"])
    assert everywhere(client, event_id, "retracted-speaker", min_position=wait, as_of=before) == SHOWN
    then = [i for i in listed(client, min_position=wait, as_of=before) if i["event_id"] == event_id]
    assert [(i["status"], i["revision"], i["summary"]) for i in then] == [("active", 2, "a corrected headline")]
    assert fact_by_id(client, event_id, min_position=wait, as_of=before)["status"] == "active"


def test_a_retraction_is_filtered_by_reported_by(client: TestClient) -> None:
    fact = record(client, statement("late-retraction", "2020-01-06", reported_at="2020-01-06T12:00:00Z"))
    response = retract(client, fact["event_id"], reported_at="2020-01-09T00:00:00Z")
    assert response.status_code == 201, response.text
    wait = response.json()["change_position"]
    assert everywhere(client, fact["event_id"], "late-retraction", min_position=wait, reported_by="2020-01-08") == SHOWN
    assert everywhere(client, fact["event_id"], "late-retraction", min_position=wait, reported_by="2020-01-09") == GONE
    history = revisions(client, fact["event_id"], min_position=wait)
    assert history[1]["reported_at"] == "2020-01-09T00:00:00.000000Z"


def test_a_retracted_fact_no_longer_counts_in_the_actor_list(client: TestClient) -> None:
    fact = record(client, statement("uncounted-speaker", "2020-01-06"))
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=fact["position"])["items"]}
    assert listed_actors["uncounted-speaker"]["event_count"] == 1
    response = retract(client, fact["event_id"])
    assert response.status_code == 201, response.text
    wait = response.json()["change_position"]
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=wait)["items"]}
    assert listed_actors["uncounted-speaker"]["event_count"] == 0, listed_actors["uncounted-speaker"]
    assert listed_actors["uncounted-speaker"]["last_occurred_at"] is None


def test_changes_feed_shows_each_change_with_the_fact_right_after_it(client: TestClient) -> None:
    fact = record(client, statement("feed-speaker", "2020-01-06"))
    event_id = fact["event_id"]
    fixed = corrected(client, event_id, {"summary": "corrected headline"})
    gone = retract(client, event_id)
    assert gone.status_code == 201, gone.text
    feed = change_feed(client, event_id, gone.json()["change_position"])
    assert [c["kind"] for c in feed] == ["recorded", "corrected", "retracted"]
    positions = [c["position"] for c in feed]
    assert positions == sorted(set(positions))
    assert positions == [fact["position"], fixed["change_position"], gone.json()["change_position"]]
    snapshot = [(c["event"]["revision"], c["event"]["status"], c["event"]["summary"]) for c in feed]
    assert snapshot == [
        (1, "active", fact["summary"]),
        (2, "active", "corrected headline"),
        (3, "retracted", "corrected headline"),
    ]
    assert all(c["event"]["event_id"] == event_id and c["event"]["position"] == fact["position"] for c in feed)
    assert feed[0]["event"] == fact
    assert [instant(c["recorded_at"]) for c in feed] == sorted(instant(c["recorded_at"]) for c in feed)


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(lambda c, e: retract(c, e, reason="again"), id="retract-twice"),
        pytest.param(lambda c, e: correct(c, e, {"summary": "too late"}), id="correct-a-retracted-fact"),
        pytest.param(lambda c, e: correct(c, e, sources=[CORRECTION_SOURCE]), id="add-sources-to-a-retracted-fact"),
    ],
)
def test_a_retracted_fact_cannot_change_any_more(client: TestClient, container: Container, second: Any) -> None:
    fact = record(client, statement("frozen-speaker", "2020-01-06"))
    first = retract(client, fact["event_id"])
    assert first.status_code == 201, first.text
    before = container.store.max_position()
    assert_problem(second(client, fact["event_id"]), 409)
    assert container.store.max_position() == before
    read = fact_by_id(client, fact["event_id"], min_position=first.json()["change_position"])
    assert (read["status"], read["revision"], len(read["revisions"])) == ("retracted", 2, 2)
