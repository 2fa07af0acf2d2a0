"""Idempotent recording by event_id, all-or-nothing batches, and read-your-writes.

A user retrying a POST must get the stored fact back without a second copy; a
batch either lands whole or not at all; ``min_position`` makes a write visible
to the next read, or answers 503 with Retry-After when it cannot in time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support.answers import assert_problem
from tests.support.facts import DROP, valid_fact
from tests.support.tokens import READ, WRITE
from tests.support.writes import post_fact, record


def new_id() -> str:
    return str(uuid.uuid4())


def post_batch(client: TestClient, facts: list[Any]) -> Any:
    return client.post("/v1/events/batch", json={"events": facts}, headers=WRITE)


def recorded_changes(client: TestClient, min_position: int) -> list[dict[str, Any]]:
    """Every 'recorded' change in the changes feed, once the read models reach min_position."""
    response = client.get(
        "/v1/changes", params={"after": 0, "limit": 1000, "min_position": min_position}, headers=READ
    )
    assert response.status_code == 200, response.text
    return [c for c in response.json()["items"] if c["kind"] == "recorded"]


def listed_ids(client: TestClient, min_position: int) -> set[str]:
    response = client.get("/v1/events", params={"limit": 1000, "min_position": min_position}, headers=READ)
    assert response.status_code == 200, response.text
    return {item["event_id"] for item in response.json()["items"]}


# --- one fact, sent again -----------------------------------------------------------------


def test_same_event_id_and_body_again_answers_200_with_the_stored_fact(
    client: TestClient, container: Container
) -> None:
    fact = valid_fact(event_id=new_id())
    first = record(client, fact)
    before = container.store.max_position()
    again = post_fact(client, fact)
    assert again.status_code == 200, again.text
    assert again.json() == first
    assert container.store.max_position() == before


def test_a_repeated_fact_is_one_change_in_the_feed(client: TestClient) -> None:
    fact = valid_fact(event_id=new_id())
    first = record(client, fact)
    assert post_fact(client, fact).status_code == 200
    later = record(client, valid_fact(summary="something else"))
    ids = [c["event_id"] for c in recorded_changes(client, later["position"])]
    assert ids.count(first["event_id"]) == 1


# Pairs of bodies that differ only in spelling: left out vs given the default, or the
# same value written another way. The normalised fact is the same, so the repeat is a 200.
EQUIVALENT_BODIES = [
    pytest.param(
        valid_fact(confidence=DROP, refers_to=DROP, sources=DROP, channel=DROP, precision=DROP),
        valid_fact(
            confidence="reported",
            refers_to=[],
            sources=[],
            channel="statement",
            precision="day",
            occurred_until=None,
            location=None,
            reported_at=None,
        ),
        id="envelope-defaults",
    ),
    pytest.param(
        valid_fact("StrikeOccurred", means=DROP, fatalities=DROP, target_description=DROP),
        valid_fact("StrikeOccurred", means="unknown", fatalities=None, target_description=None),
        id="strike-defaults",
    ),
    pytest.param(
        valid_fact("PersonnelRepositioned", personnel=DROP, temporary=DROP, to=DROP),
        valid_fact("PersonnelRepositioned", personnel=None, temporary=None, to=None, mission=None),
        id="repositioned-defaults",
    ),
    pytest.param(
        valid_fact("MissionSuspended", mission_name=DROP, personnel=DROP, reason=DROP, temporary=DROP),
        valid_fact("MissionSuspended", mission_name=None, personnel=None, reason=None, temporary=None),
        id="suspended-defaults",
    ),
    pytest.param(
        valid_fact(occurred_at="2020-01-07T15:00:00+03:00", precision=DROP),
        valid_fact(occurred_at="2020-01-07T12:00:00Z", precision="exact"),
        id="same-instant-other-offset",
    ),
    pytest.param(
        valid_fact(occurred_at="2020-01-07", precision=DROP),
        valid_fact(occurred_at="2020-01-07T00:00:00.000000Z", precision="day"),
        id="date-vs-start-of-day-with-precision-day",
    ),
]


@pytest.mark.parametrize(("sent_first", "sent_again"), EQUIVALENT_BODIES)
@pytest.mark.parametrize("order", ["short-first", "long-first"])
def test_same_fact_spelled_differently_is_a_repeat(
    client: TestClient, container: Container, sent_first: dict, sent_again: dict, order: str
) -> None:
    if order == "long-first":
        sent_first, sent_again = sent_again, sent_first
    event_id = new_id()
    first = record(client, {**sent_first, "event_id": event_id})
    before = container.store.max_position()
    again = post_fact(client, {**sent_again, "event_id": event_id})
    assert again.status_code == 200, again.text
    assert again.json() == first
    assert container.store.max_position() == before


def test_repeat_after_a_correction_is_200_with_the_fact_as_it_stands(
    client: TestClient, container: Container
) -> None:
    # The client retries its original POST after someone corrected the fact: still the same
    # body it sent, so not a conflict; the answer is the stored fact, now at revision 2.
    fact = valid_fact(event_id=new_id())
    record(client, fact)
    corrected = client.post(
        f"/v1/events/{fact['event_id']}/corrections",
        json={"changes": {"summary": "corrected summary"}, "reason": "typo"},
        headers=WRITE,
    )
    assert corrected.status_code == 201, corrected.text
    before = container.store.max_position()
    again = post_fact(client, fact)
    assert again.status_code == 200, again.text
    assert (again.json()["revision"], again.json()["summary"]) == (2, "corrected summary")
    assert container.store.max_position() == before


def test_repeat_after_a_retraction_is_200_with_status_retracted(client: TestClient, container: Container) -> None:
    fact = valid_fact(event_id=new_id())
    record(client, fact)
    retracted = client.post(f"/v1/events/{fact['event_id']}/retraction", json={"reason": "duplicate"}, headers=WRITE)
    assert retracted.status_code == 201, retracted.text
    before = container.store.max_position()
    again = post_fact(client, fact)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "retracted"
    assert container.store.max_position() == before


class CommitThenRetry:
    """The store's insert as a dropped connection makes it: the first try commits, but its
    answer is lost, and the library's retry of the same insert meets the unique key."""

    def __init__(self, recorder: Any):
        self.insert = recorder.insert_events
        self.calls = 0

    def __call__(self, stored_events: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.insert(stored_events, **kwargs)  # committed ...
        return self.insert(stored_events, **kwargs)  # ... and tried again


@pytest.mark.parametrize("change", ["corrections", "retraction"])
def test_a_change_whose_commit_answer_was_lost_is_recorded_once_and_answered_201(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    fact = record(client, valid_fact(event_id=new_id()))
    body = {"changes": {"summary": "a corrected summary"}, "reason": "typo"} if change == "corrections" else {
        "reason": "duplicate"}
    flaky = CommitThenRetry(container.store.recorder)
    monkeypatch.setattr(container.store.recorder, "insert_events", flaky)
    answer = client.post(f"/v1/events/{fact['event_id']}/{change}", json=body, headers=WRITE)
    monkeypatch.undo()
    assert flaky.calls == 1  # the commit and its retry; nothing tried a third time
    assert answer.status_code == 201, answer.text
    assert answer.json()["revision"] == 2
    assert answer.json()["change_position"] == container.store.max_position()
    read = client.get(f"/v1/events/{fact['event_id']}", params={"min_position": answer.json()["change_position"]},
                      headers=READ)
    assert [r["kind"] for r in read.json()["revisions"]] == ["recorded", "corrected" if change == "corrections"
                                                            else "retracted"]


def test_concurrent_repeats_record_the_fact_once(client: TestClient) -> None:
    fact = valid_fact(event_id=new_id())
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post_fact(client, fact), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["position"] for r in responses}) == 1
    ids = [c["event_id"] for c in recorded_changes(client, responses[0].json()["position"])]
    assert ids.count(fact["event_id"]) == 1


DIFFERENT_BODIES = [
    pytest.param({"summary": "a different summary"}, id="summary"),
    pytest.param({"occurred_at": "2020-01-08"}, id="occurred-at"),
    pytest.param({"confidence": "confirmed"}, id="confidence"),
    pytest.param({"actors": [{"id": "mark-esper", "role": "speaker"}]}, id="actors"),
    pytest.param({"sources": []}, id="sources-left-out"),
]


@pytest.mark.parametrize("change", DIFFERENT_BODIES)
def test_same_event_id_with_a_different_body_is_409_and_writes_nothing(
    client: TestClient, container: Container, change: dict
) -> None:
    event_id = new_id()
    first = record(client, valid_fact(event_id=event_id))
    before = container.store.max_position()
    assert_problem(post_fact(client, valid_fact(event_id=event_id, **change)), 409)
    assert container.store.max_position() == before
    stored = client.get(f"/v1/events/{event_id}", params={"min_position": before}, headers=READ).json()
    assert {k: stored[k] for k in first} == first


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
    assert {f["event_id"] for f in facts} <= listed_ids(client, last)


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


def test_batch_naming_one_id_twice_with_different_bodies_is_refused(
    client: TestClient, container: Container
) -> None:
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


# --- read-your-writes ---------------------------------------------------------------------


def test_timeline_with_min_position_includes_the_fact_just_recorded(client: TestClient) -> None:
    stored = record(client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    response = client.get(
        "/v1/actors/hungary/timeline", params={"min_position": stored["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text
    assert [i["event_id"] for i in response.json()["items"]] == [stored["event_id"]]


def test_fact_read_with_min_position_right_after_recording(client: TestClient) -> None:
    stored = record(client, valid_fact())
    response = client.get(
        f"/v1/events/{stored['event_id']}", params={"min_position": stored["position"]}, headers=READ
    )
    assert response.status_code == 200, response.text


def test_state_with_min_position_counts_the_fact_just_recorded(client: TestClient) -> None:
    stored = record(client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    response = client.get("/v1/actors/hungary/state", params={"min_position": stored["position"]}, headers=READ)
    assert response.status_code == 200, response.text
    assert response.json()["event_count"] == 1
    assert response.json()["statements"] == 1


def test_timeline_with_min_position_includes_a_whole_batch(client: TestClient) -> None:
    facts = [valid_fact(event_id=new_id(), actors=[{"id": "hungary", "role": "speaker"}]) for _ in range(5)]
    items = post_batch(client, facts).json()["items"]
    response = client.get(
        "/v1/actors/hungary/timeline", params={"min_position": items[-1]["position"]}, headers=READ
    )
    assert {i["event_id"] for i in response.json()["items"]} == {f["event_id"] for f in facts}


@pytest.fixture
def impatient_client(settings: Settings) -> Iterator[TestClient]:
    """The API with read_wait 0.2 s and no projection running: the read models stay behind."""
    container = bootstrap(settings.model_copy(update={"read_wait": 0.2}))
    try:
        with TestClient(create_app(container, run_workers=False)) as test_client:
            yield test_client
    finally:
        container.close()


@pytest.mark.parametrize(
    "path", ["/v1/events", "/v1/actors", "/v1/changes", "/v1/state", "/v1/actors/hungary/timeline"]
)
def test_min_position_not_reached_in_time_is_503_with_retry_after(
    impatient_client: TestClient, path: str
) -> None:
    # A position the log holds (so it is worth waiting for) that the read models have not reached.
    fact = record(impatient_client, valid_fact(actors=[{"id": "hungary", "role": "speaker"}]))
    started = time.monotonic()
    response = impatient_client.get(path, params={"min_position": fact["position"]}, headers=READ)
    assert_problem(response, 503)
    assert response.headers.get("retry-after", "").isdigit()
    assert time.monotonic() - started < 3, "the read waited longer than read_wait"
