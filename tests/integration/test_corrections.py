"""Corrections as a user sees them over HTTP: what later answers say, and every earlier answer
still reproducible with ``as_of`` (transaction time) and ``reported_by`` (publication time).
On SQLite and PostgreSQL.

``recorded_at`` is the server's clock: tests read it from answers (the fact's, or a revision's)
and query just before or at it. Every read that must include a write waits for it with
``min_position``.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.answers import assert_problem
from tests.support.reads import (
    fact_by_id,
    fact_lookup,
    get_ok,
    instant,
    just_before,
    listed,
    listed_ids,
    revisions,
    state,
    timeline,
    timeline_ids,
    world,
)
from tests.support.time_travel import CORRECTION_SOURCE, statement, strike_actors, strike_on, targeted
from tests.support.tokens import READ
from tests.support.writes import corrected, record

# --- a correction moves a strike's target from A to B -----------------------------------

FACT_REPORTED = "2020-01-03T12:00:00Z"
BETWEEN_REPORTS = "2020-01-04T12:00:00Z"
CORRECTION_REPORTED = "2020-01-05T12:00:00Z"


@pytest.fixture
def retargeted(client: TestClient) -> dict[str, Any]:
    """A strike on target-a (reported 01-03), corrected to target-b (reported 01-05)."""
    fact = record(client, strike_on("target-a", occurred_at="2020-01-03", reported_at=FACT_REPORTED))
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
def test_before_the_correction_a_is_the_target_and_b_is_not(client: TestClient, retargeted: dict, axes: Any) -> None:
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
    wait = corrected(client, fact["event_id"], {"occurred_at": "2020-01-02"}, reported_at="2020-01-12T00:00:00Z")[
        "change_position"
    ]
    listed_actors = {a["id"]: a for a in get_ok(client, "/v1/actors", min_position=wait, limit=1000)["items"]}
    assert listed_actors["counted-speaker"]["event_count"] == 1, listed_actors["counted-speaker"]
    assert listed_actors["counted-speaker"]["first_occurred_at"] == "2020-01-02T00:00:00.000000Z"
    assert listed_actors["counted-speaker"]["last_occurred_at"] == "2020-01-02T00:00:00.000000Z"


def test_as_of_between_two_corrections_shows_the_first(client: TestClient) -> None:
    fact = record(client, strike_on("target-a", occurred_at="2020-01-03"))
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


# --- GET /v1/events/{id}: the fact with its revisions -------------------------------------


def test_revisions_list_the_recording_and_the_correction(client: TestClient, retargeted: dict) -> None:
    fact, wait = retargeted["fact"], retargeted["wait"]
    now = fact_by_id(client, fact["event_id"], min_position=wait)
    assert (now["revision"], now["status"]) == (2, "active")
    assert now["actors"] == strike_actors("target-b")
    assert (now["recorded_at"], now["position"], now["reported_at"]) == (
        fact["recorded_at"],
        fact["position"],
        "2020-01-03T12:00:00.000000Z",
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
    wait = corrected(client, fact["event_id"], {"summary": "the earlier wording"}, reported_at="2020-01-04T00:00:00Z")[
        "change_position"
    ]
    # Nothing is known of the fact before its own report, not even through its correction.
    assert_problem(fact_lookup(client, fact["event_id"], min_position=wait, reported_by="2020-01-04T12:00:00Z"), 404)
    assert fact["event_id"] not in listed_ids(client, min_position=wait, reported_by="2020-01-04T12:00:00Z")
    known = fact_by_id(client, fact["event_id"], min_position=wait, reported_by="2020-01-05T00:00:00Z")
    assert (known["revision"], known["summary"]) == (2, "the earlier wording")
    items = listed(client, min_position=wait, reported_by="2020-01-05T00:00:00Z")
    assert [(i["event_id"], i["summary"]) for i in items] == [(fact["event_id"], "the earlier wording")]


# --- corrections of dates --------------------------------------------------------------------


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
    wait = corrected(client, moved["event_id"], {"occurred_at": "2020-01-02"}, reported_at="2020-01-12T00:00:00Z")[
        "change_position"
    ]
    earlier = {"min_position": wait, "reported_by": "2020-01-11"}
    assert state(client, "reported-speaker", at="2020-01-05", min_position=wait)["statements"] == 1
    assert state(client, "reported-speaker", at="2020-01-05", **earlier)["statements"] == 0
    assert state(client, "reported-speaker", at="2020-01-31", **earlier)["statements"] == 1
    assert listed(client, **earlier)[0]["occurred_at"] == "2020-01-10T00:00:00.000000Z"
    assert listed(client, min_position=wait)[0]["occurred_at"] == "2020-01-02T00:00:00.000000Z"
