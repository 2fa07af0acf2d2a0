"""Idempotent recording by event_id: a user retrying a POST gets the stored fact back without a second copy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.facts import DROP, valid_fact
from tests.support.reads import recorded_changes
from tests.support.tokens import READ, WRITE
from tests.support.writes import new_id, post_fact, record

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


def test_repeat_after_a_correction_is_200_with_the_fact_as_it_stands(client: TestClient, container: Container) -> None:
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
    body = (
        {"changes": {"summary": "a corrected summary"}, "reason": "typo"}
        if change == "corrections"
        else {"reason": "duplicate"}
    )
    flaky = CommitThenRetry(container.store.recorder)
    monkeypatch.setattr(container.store.recorder, "insert_events", flaky)
    answer = client.post(f"/v1/events/{fact['event_id']}/{change}", json=body, headers=WRITE)
    monkeypatch.undo()
    assert flaky.calls == 1  # the commit and its retry; nothing tried a third time
    assert answer.status_code == 201, answer.text
    assert answer.json()["revision"] == 2
    assert answer.json()["change_position"] == container.store.max_position()
    read = client.get(
        f"/v1/events/{fact['event_id']}", params={"min_position": answer.json()["change_position"]}, headers=READ
    )
    assert [r["kind"] for r in read.json()["revisions"]] == [
        "recorded",
        "corrected" if change == "corrections" else "retracted",
    ]


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
