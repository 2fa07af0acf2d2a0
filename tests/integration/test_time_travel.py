"""Corrections, retractions and the three time axes, as a user sees them over HTTP.

A correction of the record changes what later answers say, while every earlier
answer stays reproducible with ``as_of`` (transaction time) and ``reported_by``
(publication time). A retraction takes a fact out of lists, timelines and states
from then on; the fact stays readable by id. All of it on SQLite and PostgreSQL.

``recorded_at`` is the server's clock: tests read it from answers (the fact's, or
a revision's) and query just before or at it. Every read that must include a
write waits for it with ``min_position``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.facts import valid_fact
from tests.support.reads import instant, just_before
from tests.support.tokens import READ, WRITE
from tests.support.writes import correct, corrected, record, retract

# --- helpers ------------------------------------------------------------------------------


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


def statement(speaker: str, occurred_at: str, **changes: Any) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "occurred_at": occurred_at,
        "summary": f"{speaker} speaks on {occurred_at}",
        "actors": [{"id": speaker, "role": "speaker"}],
        **changes,
    }
    return valid_fact("StatementIssued", **parts)


def strike(target: str, **changes: Any) -> dict[str, Any]:
    return valid_fact(
        "StrikeOccurred",
        actors=[{"id": "striker", "role": "perpetrator"}, {"id": target, "role": "target"}],
        **changes,
    )


def strike_actors(target: str) -> list[dict[str, str]]:
    return [{"id": "striker", "role": "perpetrator"}, {"id": target, "role": "target"}]


def targeted(client: TestClient, actor: str, **params: Any) -> int:
    return state(client, actor, **params)["strikes"]["targeted"]


# --- 1. a correction moves a strike's target from A to B -----------------------------------

FACT_REPORTED = "2020-01-03T12:00:00Z"
BETWEEN_REPORTS = "2020-01-04T12:00:00Z"
CORRECTION_REPORTED = "2020-01-05T12:00:00Z"
CORRECTION_SOURCE = {"url": "https://example.org/correction", "publisher": "Wire"}


@pytest.fixture
def retargeted(client: TestClient) -> dict[str, Any]:
    """A strike on target-a (reported 01-03), corrected to target-b (reported 01-05)."""
    fact = record(client, strike("target-a", occurred_at="2020-01-03", reported_at=FACT_REPORTED))
    answer = corrected(
        client,
        fact["event_id"],
        {"actors": strike_actors("target-b")},
        reason="the target was misidentified",
        reported_at=CORRECTION_REPORTED,
        sources=[CORRECTION_SOURCE],
    )
    wait = answer["change_position"]
    history = revisions(client, fact["event_id"], min_position=wait)
    assert [r["kind"] for r in history] == ["recorded", "corrected"], history
    return {
        "fact": fact,
        "answer": answer,
        "wait": wait,
        "correction_recorded_at": history[1]["recorded_at"],
        "before_correction": just_before(history[1]["recorded_at"]),
    }


def test_after_the_correction_b_is_the_target_and_a_is_not(client: TestClient, retargeted: dict) -> None:
    event_id, wait = retargeted["fact"]["event_id"], retargeted["wait"]
    assert targeted(client, "target-a", min_position=wait) == 0
    assert targeted(client, "target-b", min_position=wait) == 1
    assert event_id not in timeline_ids(client, "target-a", min_position=wait)
    items = timeline(client, "target-b", min_position=wait)
    assert [(i["event_id"], i["role"], i["revision"]) for i in items] == [(event_id, "target", 2)]


@pytest.mark.parametrize(
    "axes",
    [
        pytest.param(lambda r: {"as_of": r["before_correction"]}, id="as-of-just-before-the-correction"),
        pytest.param(lambda r: {"reported_by": BETWEEN_REPORTS}, id="reported-by-between-the-reports"),
        pytest.param(
            lambda r: {"as_of": r["correction_recorded_at"], "reported_by": BETWEEN_REPORTS},
            id="as-of-after-but-reported-by-before-the-correction",
        ),
        pytest.param(
            lambda r: {"reported_by": just_before(CORRECTION_REPORTED)}, id="reported-by-just-before-the-correction"
        ),
    ],
)
def test_before_the_correction_a_is_the_target_and_b_is_not(
    client: TestClient, retargeted: dict, axes: Any
) -> None:
    event_id, params = retargeted["fact"]["event_id"], {"min_position": retargeted["wait"], **axes(retargeted)}
    assert targeted(client, "target-a", **params) == 1
    assert targeted(client, "target-b", **params) == 0
    items = timeline(client, "target-a", **params)
    assert [(i["event_id"], i["role"], i["revision"]) for i in items] == [(event_id, "target", 1)]
    assert timeline_ids(client, "target-b", **params) == []
    actors = world(client, at="2020-01-31", **params)
    assert "target-a" in actors and "target-b" not in actors, sorted(actors)
    assert actors["target-a"]["strikes"]["targeted"] == 1


@pytest.mark.parametrize(
    "axes",
    [
        pytest.param(lambda r: {}, id="now"),
        pytest.param(lambda r: {"as_of": r["correction_recorded_at"]}, id="as-of-exactly-the-correction"),
        pytest.param(lambda r: {"reported_by": CORRECTION_REPORTED}, id="reported-by-exactly-the-correction"),
    ],
)
def test_world_state_follows_the_correction(client: TestClient, retargeted: dict, axes: Any) -> None:
    params = {"min_position": retargeted["wait"], **axes(retargeted)}
    actors = world(client, at="2020-01-31", **params)
    assert "target-b" in actors and "target-a" not in actors, sorted(actors)
    assert actors["target-b"]["strikes"] == {"perpetrated": 0, "targeted": 1}
    assert actors["striker"]["strikes"] == {"perpetrated": 1, "targeted": 0}
    assert targeted(client, "target-a", **params) == 0
    assert targeted(client, "target-b", **params) == 1


def test_an_actor_introduced_by_a_correction_exists(client: TestClient, retargeted: dict) -> None:
    wait = retargeted["wait"]
    response = client.get("/v1/actors/target-b/timeline", params={"min_position": wait}, headers=READ)
    assert response.status_code == 200, response.text
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=wait, limit=1000)["items"]}
    assert {"striker", "target-a", "target-b"} <= set(listed_actors)
    assert listed_actors["target-b"]["event_count"] == 1
    assert listed_actors["target-b"]["first_occurred_at"] == "2020-01-03T00:00:00.000000Z"
    assert listed_actors["striker"]["event_count"] == 1


def test_an_actor_a_correction_removed_counts_no_facts_now(client: TestClient, retargeted: dict) -> None:
    # A was named once, so it still exists (timeline 200, empty), but no fact names it any more.
    wait = retargeted["wait"]
    assert timeline_ids(client, "target-a", min_position=wait) == []
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=wait, limit=1000)["items"]}
    assert listed_actors["target-a"]["event_count"] == 0, listed_actors["target-a"]
    assert listed_actors["target-a"]["first_occurred_at"] is None


def test_actor_counts_do_not_count_a_corrected_fact_twice(client: TestClient) -> None:
    # A correction reported later than the fact leaves two versions over publication time;
    # /v1/actors speaks of now, where the fact exists once.
    fact = record(client, statement("counted-speaker", "2020-01-10", reported_at="2020-01-10T12:00:00Z"))
    wait = corrected(
        client, fact["event_id"], {"occurred_at": "2020-01-02"}, reported_at="2020-01-12T00:00:00Z"
    )["change_position"]
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=wait, limit=1000)["items"]}
    assert listed_actors["counted-speaker"]["event_count"] == 1, listed_actors["counted-speaker"]
    assert listed_actors["counted-speaker"]["first_occurred_at"] == "2020-01-02T00:00:00.000000Z"
    assert listed_actors["counted-speaker"]["last_occurred_at"] == "2020-01-02T00:00:00.000000Z"


def test_as_of_between_two_corrections_shows_the_first(client: TestClient) -> None:
    fact = record(client, strike("target-a", occurred_at="2020-01-03"))
    first = corrected(client, fact["event_id"], {"actors": strike_actors("target-b")})
    second = corrected(client, fact["event_id"], {"actors": strike_actors("target-c")}, reason="wrong again")
    assert (first["revision"], second["revision"]) == (2, 3)
    assert second["change_position"] > first["change_position"]
    history = revisions(client, fact["event_id"], min_position=second["change_position"])
    between = {"as_of": just_before(history[2]["recorded_at"]), "min_position": second["change_position"]}
    assert [targeted(client, a, **between) for a in ("target-a", "target-b", "target-c")] == [0, 1, 0]
    now = {"min_position": second["change_position"]}
    assert [targeted(client, a, **now) for a in ("target-a", "target-b", "target-c")] == [0, 0, 1]
    assert fact_by_id(client, fact["event_id"], **between)["revision"] == 2


# --- 2. GET /v1/events/{id}: the fact with its revisions -------------------------------------


def test_revisions_list_the_recording_and_the_correction(client: TestClient, retargeted: dict) -> None:
    fact, wait = retargeted["fact"], retargeted["wait"]
    now = fact_by_id(client, fact["event_id"], min_position=wait)
    assert (now["revision"], now["status"]) == (2, "active")
    assert now["actors"] == strike_actors("target-b")
    assert (now["recorded_at"], now["position"], now["reported_at"]) == (
        fact["recorded_at"], fact["position"], "2020-01-03T12:00:00.000000Z"
    )
    recorded_rev, corrected_rev = now["revisions"]
    assert recorded_rev["revision"] == 1
    assert recorded_rev["kind"] == "recorded"
    assert recorded_rev["recorded_at"] == fact["recorded_at"]
    assert recorded_rev["reported_at"] == "2020-01-03T12:00:00.000000Z"
    assert not recorded_rev["reason"]
    assert not recorded_rev["changes"]
    assert corrected_rev["revision"] == 2
    assert corrected_rev["kind"] == "corrected"
    assert corrected_rev["reason"] == "the target was misidentified"
    assert corrected_rev["reported_at"] == "2020-01-05T12:00:00.000000Z"
    assert instant(corrected_rev["recorded_at"]) > instant(fact["recorded_at"])
    changes = corrected_rev["changes"]
    assert changes["actors"] == strike_actors("target-b")
    assert [s["url"] for s in changes["sources_added"]] == [CORRECTION_SOURCE["url"]]
    assert set(changes) == {"actors", "sources_added"}, changes
    # The added source is appended to the fact's sources.
    assert [s["url"] for s in now["sources"]] == [s["url"] for s in fact["sources"]] + [CORRECTION_SOURCE["url"]]


def test_revision_positions_are_those_of_the_changes(client: TestClient, retargeted: dict) -> None:
    fact, wait = retargeted["fact"], retargeted["wait"]
    history = revisions(client, fact["event_id"], min_position=wait)
    if "position" in history[0]:
        assert [r["position"] for r in history] == [fact["position"], retargeted["answer"]["change_position"]]


@pytest.mark.parametrize(
    "axes",
    [
        pytest.param(lambda r: {"as_of": r["before_correction"]}, id="as-of-before-the-correction"),
        pytest.param(lambda r: {"reported_by": BETWEEN_REPORTS}, id="reported-by-before-the-correction"),
        pytest.param(lambda r: {"as_of": r["fact"]["recorded_at"]}, id="as-of-exactly-the-recording"),
        pytest.param(lambda r: {"reported_by": FACT_REPORTED}, id="reported-by-exactly-the-fact"),
    ],
)
def test_before_the_correction_the_fact_is_at_revision_1(client: TestClient, retargeted: dict, axes: Any) -> None:
    fact = retargeted["fact"]
    then = fact_by_id(client, fact["event_id"], min_position=retargeted["wait"], **axes(retargeted))
    assert (then["revision"], then["status"]) == (1, "active")
    assert then["actors"] == strike_actors("target-a")
    assert [s["url"] for s in then["sources"]] == [s["url"] for s in fact["sources"]]
    assert [(r["revision"], r["kind"]) for r in then["revisions"]] == [(1, "recorded")]
    assert {k: v for k, v in then.items() if k != "revisions"} == fact


@pytest.mark.parametrize(
    "axes",
    [
        pytest.param(lambda r: {"as_of": just_before(r["fact"]["recorded_at"])}, id="as-of-before-the-recording"),
        pytest.param(lambda r: {"reported_by": just_before(FACT_REPORTED)}, id="reported-by-before-the-fact"),
        pytest.param(lambda r: {"reported_by": "2020-01-02"}, id="reported-by-a-day-before"),
        pytest.param(
            lambda r: {"as_of": just_before(r["fact"]["recorded_at"]), "reported_by": CORRECTION_REPORTED},
            id="as-of-before-the-recording-reported-by-after",
        ),
    ],
)
def test_the_fact_is_404_before_it_was_known(client: TestClient, retargeted: dict, axes: Any) -> None:
    response = fact_lookup(client, retargeted["fact"]["event_id"], min_position=retargeted["wait"], **axes(retargeted))
    assert_problem(response, 404)


def test_a_correction_reported_before_the_fact_shows_from_the_facts_report_on(client: TestClient) -> None:
    fact = record(client, statement("early-speaker", "2020-01-03", reported_at="2020-01-05T00:00:00Z"))
    wait = corrected(
        client, fact["event_id"], {"summary": "the earlier wording"}, reported_at="2020-01-04T00:00:00Z"
    )["change_position"]
    # Nothing is known of the fact before its own report, not even through its correction.
    assert_problem(fact_lookup(client, fact["event_id"], min_position=wait, reported_by="2020-01-04T12:00:00Z"), 404)
    assert fact["event_id"] not in listed_ids(client, min_position=wait, reported_by="2020-01-04T12:00:00Z")
    known = fact_by_id(client, fact["event_id"], min_position=wait, reported_by="2020-01-05T00:00:00Z")
    assert (known["revision"], known["summary"]) == (2, "the earlier wording")
    items = listed(client, min_position=wait, reported_by="2020-01-05T00:00:00Z")
    assert [(i["event_id"], i["summary"]) for i in items] == [(fact["event_id"], "the earlier wording")]


# --- 3. retraction -----------------------------------------------------------------------------


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


# --- 4. corrections of dates --------------------------------------------------------------------


def test_correcting_occurred_at_moves_the_fact_in_time(client: TestClient) -> None:
    kept = record(client, statement("dated-speaker", "2020-01-05"))
    moved = record(client, statement("dated-speaker", "2020-01-10"))
    wait = moved["position"]
    assert timeline_ids(client, "dated-speaker", min_position=wait) == [kept["event_id"], moved["event_id"]]
    assert state(client, "dated-speaker", at="2020-01-05", min_position=wait)["statements"] == 1

    answer = corrected(client, moved["event_id"], {"occurred_at": "2020-01-02"}, reason="wrong date")
    assert answer["occurred_at"] == "2020-01-02T00:00:00.000000Z"
    wait = answer["change_position"]
    before = just_before(revisions(client, moved["event_id"], min_position=wait)[1]["recorded_at"])

    order_now = [moved["event_id"], kept["event_id"]]
    assert timeline_ids(client, "dated-speaker", min_position=wait) == order_now
    assert listed_ids(client, min_position=wait) == order_now
    assert state(client, "dated-speaker", at="2020-01-05", min_position=wait)["statements"] == 2
    assert state(client, "dated-speaker", at="2020-01-03", min_position=wait)["statements"] == 1
    assert listed_ids(client, min_position=wait, to="2020-01-05") == order_now
    assert listed_ids(client, min_position=wait, **{"from": "2020-01-06"}) == []

    order_then = [kept["event_id"], moved["event_id"]]
    assert timeline_ids(client, "dated-speaker", min_position=wait, as_of=before) == order_then
    assert listed_ids(client, min_position=wait, as_of=before) == order_then
    assert state(client, "dated-speaker", at="2020-01-05", min_position=wait, as_of=before)["statements"] == 1
    assert state(client, "dated-speaker", at="2020-01-03", min_position=wait, as_of=before)["statements"] == 0
    assert listed_ids(client, min_position=wait, as_of=before, to="2020-01-05") == [kept["event_id"]]
    last = state(client, "dated-speaker", at="2020-01-31", min_position=wait, as_of=before)["last_event"]
    assert last["event_id"] == moved["event_id"]
    last = state(client, "dated-speaker", at="2020-01-31", min_position=wait)["last_event"]
    assert last["event_id"] == kept["event_id"]


def test_correcting_occurred_at_with_a_later_report_splits_on_reported_by(client: TestClient) -> None:
    moved = record(client, statement("reported-speaker", "2020-01-10", reported_at="2020-01-10T12:00:00Z"))
    wait = corrected(
        client, moved["event_id"], {"occurred_at": "2020-01-02"}, reported_at="2020-01-12T00:00:00Z"
    )["change_position"]
    earlier = {"min_position": wait, "reported_by": "2020-01-11"}
    assert state(client, "reported-speaker", at="2020-01-05", min_position=wait)["statements"] == 1
    assert state(client, "reported-speaker", at="2020-01-05", **earlier)["statements"] == 0
    assert state(client, "reported-speaker", at="2020-01-31", **earlier)["statements"] == 1
    assert listed(client, **earlier)[0]["occurred_at"] == "2020-01-10T00:00:00.000000Z"
    assert listed(client, min_position=wait)[0]["occurred_at"] == "2020-01-02T00:00:00.000000Z"


# --- 5. late-recorded facts with early occurred_at ------------------------------------------------


def test_a_late_recorded_early_fact_is_ordered_by_occurred_time(client: TestClient) -> None:
    fifth = record(client, statement("late-speaker", "2020-01-05"))
    seventh_a = record(client, statement("late-speaker", "2020-01-07", summary="first on the 7th"))
    seventh_b = record(client, statement("late-speaker", "2020-01-07", summary="second on the 7th"))
    late = record(client, statement("late-speaker", "2020-01-02"))
    assert late["position"] > seventh_b["position"] > seventh_a["position"] > fifth["position"]
    wait = late["position"]

    expected = [late["event_id"], fifth["event_id"], seventh_a["event_id"], seventh_b["event_id"]]
    assert listed_ids(client, min_position=wait) == expected
    assert timeline_ids(client, "late-speaker", min_position=wait) == expected
    # Paging keeps the order.
    first_page = get_ok(client, "/v1/events", limit=2, min_position=wait)
    second_page = get_ok(client, "/v1/events", limit=2, cursor=first_page["next_cursor"], min_position=wait)
    assert [i["event_id"] for i in first_page["items"] + second_page["items"]] == expected

    before = just_before(late["recorded_at"])
    assert state(client, "late-speaker", at="2020-01-03", min_position=wait)["statements"] == 1
    assert state(client, "late-speaker", at="2020-01-03", min_position=wait, as_of=before)["statements"] == 0
    at_recording = {"min_position": wait, "as_of": late["recorded_at"]}
    assert state(client, "late-speaker", at="2020-01-03", **at_recording)["statements"] == 1
    assert listed_ids(client, min_position=wait, as_of=before) == expected[1:]
    assert timeline_ids(client, "late-speaker", min_position=wait, as_of=before) == expected[1:]
    assert "late-speaker" not in world(client, at="2020-01-03", min_position=wait, as_of=before)
    assert world(client, at="2020-01-03", min_position=wait)["late-speaker"]["statements"] == 1


# --- 6. reported_by on the demo data --------------------------------------------------------------


def demo_statements(client: TestClient, reported_by: str) -> list[str]:
    items = listed(client, type="StatementIssued", reported_by=reported_by)
    return [i["summary"] for i in items]


def has(summaries: list[str], words: str) -> bool:
    return any(words in s for s in summaries)


def test_reported_by_shows_what_was_public_before_the_clarification(demo_client: TestClient) -> None:
    evening = demo_statements(demo_client, "2020-01-06T21:00:00Z")
    assert has(evening, "letter tells Iraq coalition will reposition")  # Seely, 18:30
    assert has(evening, "Media outlets report Seely letter")  # the withdrawal reading, 19:00
    assert not has(evening, "Esper")  # the clarification, 23:00
    next_day = demo_statements(demo_client, "2020-01-07")
    assert has(next_day, "Esper: no plans for American troops to leave Iraq")
    assert has(next_day, "letter tells Iraq") and has(next_day, "Media outlets report")


def test_reported_by_changes_the_us_statement_count(demo_client: TestClient) -> None:
    # statements count facts where us is speaker or on_behalf_of: the Seely letter, then Esper.
    assert state(demo_client, "us", reported_by="2020-01-06T21:00:00Z")["statements"] == 1
    assert state(demo_client, "us", reported_by="2020-01-07")["statements"] == 2
    assert state(demo_client, "us")["statements"] == 2
    evening = world(demo_client, reported_by="2020-01-06T21:00:00Z")
    assert "mark-esper" not in evening and "william-seely" in evening
    assert "mark-esper" in world(demo_client, reported_by="2020-01-07")


# --- 7. correction input errors ----------------------------------------------------------------------


def fact_of(type_: str) -> dict[str, Any]:
    return valid_fact(type_, summary=f"a {type_} to correct")


BAD_CORRECTIONS = [
    *[
        pytest.param("StatementIssued", {"changes": {field: value}}, f"changes.{field}", id=f"fixed-{field}")
        for field, value in [
            ("event_id", str(uuid.uuid4())),
            ("type", "StrikeOccurred"),
            ("recorded_at", "2020-01-01T00:00:00Z"),
            ("position", 1),
            ("revision", 7),
            ("status", "retracted"),
        ]
    ],
    pytest.param("StatementIssued", {"changes": {"means": "drone"}}, "changes.means", id="field-of-another-type"),
    pytest.param("StatementIssued", {"changes": {"colour": "red"}}, "changes.colour", id="field-of-no-type"),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "on_behalf_of"}]}},
        "changes.actors",
        id="statement-without-speaker",
    ),
    pytest.param(
        "StrikeOccurred",
        {"changes": {"actors": [{"id": "qasem-soleimani", "role": "target"}]}},
        "changes.actors",
        id="strike-without-perpetrator",
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "speaker"}, {"id": "us", "role": "speaker"}]}},
        "changes.actors",
        id="duplicate-actor-role",
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"actors": [{"id": "us", "role": "pilot"}]}},
        "changes.actors",
        id="role-the-type-does-not-list",
    ),
    pytest.param("PersonnelDeployed", {"changes": {"personnel": -1}}, "changes.personnel", id="personnel-negative"),
    pytest.param("PersonnelDeployed", {"changes": {"personnel": None}}, "changes.personnel", id="personnel-required"),
    pytest.param(
        "StatementIssued",
        {"changes": {"occurred_at": "2020-01-07T10:00:00"}},
        "changes.occurred_at",
        id="occurred-at-naive",
    ),
    pytest.param(
        "StatementIssued", {"changes": {"occurred_at": "2020-13-01"}}, "changes.occurred_at", id="occurred-at-month-13"
    ),
    pytest.param(
        "StatementIssued",
        {"changes": {"occurred_until": "2020-01-01"}},
        "changes",
        id="occurred-until-before-occurred-at",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": None}}, "changes.summary", id="summary-null"),
    pytest.param(
        "StatementIssued", {"changes": {"channel": "carrier-pigeon"}}, "changes.channel", id="channel-unknown"
    ),
    pytest.param("StatementIssued", {"changes": {"text": ""}}, "changes.text", id="text-empty"),
    pytest.param("StrikeOccurred", {"changes": {"fatalities": -3}}, "changes.fatalities", id="fatalities-negative"),
    pytest.param(
        "StatementIssued",
        {"changes": {"sources": [{"url": "not a url"}]}},
        "changes.sources",
        id="sources-replaced-with-a-bad-url",
    ),
    pytest.param(
        "StatementIssued", {"changes": {"summary": "a StatementIssued to correct"}}, "changes", id="same-value"
    ),
    pytest.param("StatementIssued", {"changes": {}}, "changes", id="empty-changes"),
    pytest.param("StatementIssued", {}, "changes", id="no-changes-no-sources"),
    pytest.param(
        "StatementIssued",
        {"sources": [{"url": "https://example.org/article"}]},
        "changes",
        id="only-a-source-already-cited",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": None}, "reason", id="reason-missing"),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": ""}, "reason", id="reason-empty"),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "reason": "   "}, "reason", id="reason-blank"),
    pytest.param("StatementIssued", {"changes": ["summary"]}, "changes", id="changes-not-an-object"),
    pytest.param(
        "StatementIssued", {"changes": {"summary": "x"}, "reported_at": "2020-01-07T10:00:00"}, "reported_at",
        id="correction-reported-at-naive",
    ),
    pytest.param(
        "StatementIssued", {"changes": {"summary": "x"}, "sources": [{"url": "ftp:/x"}]}, "sources",
        id="added-source-bad-url",
    ),
    pytest.param("StatementIssued", {"changes": {"summary": "x"}, "why": "typo"}, "why", id="unknown-body-key"),
]


@pytest.mark.parametrize(("type_", "body", "field"), BAD_CORRECTIONS)
def test_a_bad_correction_is_422_naming_the_field_and_writes_nothing(
    client: TestClient, container: Container, type_: str, body: dict[str, Any], field: str
) -> None:
    fact = record(client, fact_of(type_))
    payload = {"reason": "the record was wrong", **body}
    payload = {k: v for k, v in payload.items() if not (k == "reason" and v is None)}
    before = container.store.max_position()
    response = client.post(f"/v1/events/{fact['event_id']}/corrections", json=payload, headers=WRITE)
    assert_problem(response, 422, field)
    assert container.store.max_position() == before
    read = fact_by_id(client, fact["event_id"], min_position=fact["position"])
    assert (read["revision"], len(read["revisions"])) == (1, 1)
    assert {k: v for k, v in read.items() if k != "revisions"} == fact


def test_a_correction_that_makes_the_fact_over_64_kib_is_413(client: TestClient, container: Container) -> None:
    fact = record(client, fact_of("StatementIssued"))
    quote = "q" * 20_000
    big = [{"url": f"https://example.org/big/{i}", "quote": quote} for i in range(4)]
    before = container.store.max_position()
    assert_problem(correct(client, fact["event_id"], sources=big), 413)
    assert_problem(correct(client, fact["event_id"], {"sources": big}), 413)
    assert container.store.max_position() == before
    assert fact_by_id(client, fact["event_id"], min_position=fact["position"])["revision"] == 1


@pytest.mark.parametrize("path", ["corrections", "retraction"])
def test_changing_an_unknown_fact_is_404(client: TestClient, container: Container, path: str) -> None:
    record(client, fact_of("StatementIssued"))
    before = container.store.max_position()
    body = {"changes": {"summary": "x"}, "reason": "r"} if path == "corrections" else {"reason": "r"}
    response = client.post(f"/v1/events/{uuid.uuid4()}/{path}", json=body, headers=WRITE)
    assert_problem(response, 404)
    assert container.store.max_position() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "reason", id="no-reason"),
        pytest.param({"reason": ""}, "reason", id="empty-reason"),
        pytest.param({"reason": "dup", "reported_at": "yesterday"}, "reported_at", id="bad-reported-at"),
        pytest.param({"reason": "dup", "changes": {"summary": "x"}}, "changes", id="changes-in-a-retraction"),
    ],
)
def test_a_bad_retraction_is_422_and_writes_nothing(
    client: TestClient, container: Container, body: dict[str, Any], field: str
) -> None:
    fact = record(client, fact_of("StatementIssued"))
    before = container.store.max_position()
    response = client.post(f"/v1/events/{fact['event_id']}/retraction", json=body, headers=WRITE)
    assert_problem(response, 422, field)
    assert container.store.max_position() == before
    assert fact_by_id(client, fact["event_id"], min_position=fact["position"])["status"] == "active"
    assert fact["event_id"] in listed_ids(client, min_position=fact["position"])


def test_a_correction_with_only_sources_appends_them(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    added = {"url": "https://example.org/follow-up", "publisher": "Follow-up", "published_at": "2020-01-08T09:00:00Z"}
    answer = corrected(client, fact["event_id"], sources=[added], reason="another source")
    assert answer["revision"] == 2
    urls = [s["url"] for s in answer["sources"]]
    assert urls == [s["url"] for s in fact["sources"]] + [added["url"]]
    assert answer["sources"][-1]["published_at"] == "2020-01-08T09:00:00.000000Z"
    assert answer["reported_at"] == fact["reported_at"]  # new sources do not move the fact's report
    history = revisions(client, fact["event_id"], min_position=answer["change_position"])
    assert [s["url"] for s in history[1]["changes"]["sources_added"]] == [added["url"]]
    assert set(history[1]["changes"]) == {"sources_added"}
    # The correction itself was published with its earliest source.
    assert history[1]["reported_at"] == "2020-01-08T09:00:00.000000Z"


def test_changes_sources_replaces_them(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    replacement = [{"url": "https://example.org/right-article", "publisher": "Right"}]
    answer = corrected(client, fact["event_id"], {"sources": replacement}, reason="wrong article cited")
    assert [s["url"] for s in answer["sources"]] == ["https://example.org/right-article"]
    history = revisions(client, fact["event_id"], min_position=answer["change_position"])
    assert [s["url"] for s in history[1]["changes"]["sources"]] == ["https://example.org/right-article"]
    assert "sources_added" not in history[1]["changes"]
    then = fact_by_id(client, fact["event_id"], min_position=answer["change_position"], as_of=fact["recorded_at"])
    assert [s["url"] for s in then["sources"]] == [s["url"] for s in fact["sources"]]


def test_changes_sources_and_added_sources_together(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    answer = corrected(
        client,
        fact["event_id"],
        {"sources": [{"url": "https://example.org/replacement"}]},
        sources=[{"url": "https://example.org/extra"}],
    )
    assert [s["url"] for s in answer["sources"]] == ["https://example.org/replacement", "https://example.org/extra"]


# --- 8. the answer to a correction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correction", "reported_at"),
    [
        pytest.param({"changes": {"summary": "new headline"}}, "2020-01-07T08:00:00.000000Z", id="no-reported-at"),
        pytest.param(
            {"changes": {"summary": "new headline"}, "reported_at": "2020-01-09T00:00:00Z",
             "sources": [{"url": "https://example.org/late", "published_at": "2020-01-09T00:00:00Z"}]},
            "2020-01-07T08:00:00.000000Z",
            id="the-corrections-own-reported-at-and-sources",
        ),
        pytest.param(
            {"changes": {"summary": "new headline", "reported_at": "2020-01-06T22:00:00+01:00"}},
            "2020-01-06T21:00:00.000000Z",
            id="changes-reported-at",
        ),
    ],
)
def test_a_correction_answers_201_with_the_fact_at_revision_2(
    client: TestClient, correction: dict[str, Any], reported_at: str
) -> None:
    fact = record(client, fact_of("StatementIssued") | {"reported_at": "2020-01-07T08:00:00Z"})
    assert fact["reported_at"] == "2020-01-07T08:00:00.000000Z"
    response = client.post(
        f"/v1/events/{fact['event_id']}/corrections", json={"reason": "headline", **correction}, headers=WRITE
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["revision"], answer["status"], answer["summary"]) == (2, "active", "new headline")
    assert (answer["event_id"], answer["position"], answer["recorded_at"]) == (
        fact["event_id"], fact["position"], fact["recorded_at"]
    )
    assert answer["change_position"] > answer["position"]
    assert answer["reported_at"] == reported_at
    read = fact_by_id(client, fact["event_id"], min_position=answer["change_position"])
    assert {k: v for k, v in read.items() if k != "revisions"} == {
        k: v for k, v in answer.items() if k != "change_position"
    }


def test_a_correction_does_not_move_a_reported_at_left_to_the_recording(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))  # no reported_at, sources without dates
    assert fact["reported_at"] == fact["recorded_at"]
    answer = corrected(
        client, fact["event_id"], {"summary": "new"},
        sources=[{"url": "https://example.org/dated", "published_at": "2020-01-01T00:00:00Z"}],
    )
    assert answer["reported_at"] == fact["recorded_at"]
    read = fact_by_id(client, fact["event_id"], min_position=answer["change_position"])
    assert read["reported_at"] == fact["recorded_at"]


def test_a_retraction_answers_201_with_the_retracted_fact(client: TestClient) -> None:
    fact = record(client, fact_of("StatementIssued"))
    response = retract(client, fact["event_id"], reason="false report")
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["status"], answer["revision"], answer["position"]) == ("retracted", 2, fact["position"])
    assert answer["change_position"] > fact["position"]
    assert {k: v for k, v in answer.items() if k not in ("status", "revision", "change_position")} == {
        k: v for k, v in fact.items() if k not in ("status", "revision")
    }
