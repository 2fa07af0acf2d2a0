"""Replaying webhook deliveries with the same ids, and reading a subscription's deliveries.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from tests.support.answers import assert_problem
from tests.support.subscriptions import (
    TIMEOUT,
    all_delivered,
    assert_verified,
    deliveries,
    replay,
    strike,
    subscribe,
    suspension,
    wait_deliveries,
)
from tests.support.tokens import ADMIN, WRITE
from tests.support.webhook_receiver import Receiver
from tests.support.writes import record

# --- replay ---------------------------------------------------------------------------


def test_replay_since_a_time_resends_with_the_same_ids(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("since")
    sub = subscribe(hooks, endpoint)
    facts = [record(hooks, strike(f"actor-{i}")) for i in range(3)]
    wait_deliveries(hooks, sub["id"], all_delivered(3))
    first_round = {r.event_id: r.webhook_id for r in endpoint.snapshot()}
    assert len(first_round) == 3

    replayed = replay(hooks, sub["id"], {"since": facts[1]["recorded_at"]})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["messages"] == 2
    again = endpoint.wait_count(5, TIMEOUT)[3:]
    assert endpoint.quiet(0.5) == []
    assert_verified(again)
    assert sorted(r.event_id for r in again) == sorted([facts[1]["event_id"], facts[2]["event_id"]])
    assert all(first_round[r.event_id] == r.webhook_id for r in again)
    wait_deliveries(hooks, sub["id"], all_delivered(3))


def test_replay_backfills_changes_from_before_the_subscription(
    hooks: TestClient, receiver: Receiver, hook_container: Container
) -> None:
    early = [record(hooks, strike(f"early-{i}")) for i in range(2)]
    corrected = hooks.post(
        f"/v1/events/{early[0]['event_id']}/corrections",
        json={"changes": {"fatalities": 3}, "reason": "count"},
        headers=WRITE,
    )
    assert corrected.status_code == 201, corrected.text
    assert hook_container.wait_for_position(hook_container.store.max_position(), 10)
    endpoint = receiver.endpoint("backfill")
    sub = subscribe(hooks, endpoint)
    late = record(hooks, strike("late"))
    endpoint.wait_count(1, TIMEOUT)
    assert endpoint.quiet(0.5) == []
    live_id = endpoint.snapshot()[0].webhook_id
    assert endpoint.snapshot()[0].event_id == late["event_id"]

    replayed = replay(hooks, sub["id"], {"after": 0})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["messages"] == 4
    requests = endpoint.wait_count(5, TIMEOUT)
    assert endpoint.quiet(0.5) == []
    backfilled = requests[1:]
    assert_verified(backfilled)
    assert [(r.event_id, r.type, r.position) for r in sorted(backfilled, key=lambda r: r.position)] == [
        (early[0]["event_id"], "event.recorded", early[0]["position"]),
        (early[1]["event_id"], "event.recorded", early[1]["position"]),
        (early[0]["event_id"], "event.corrected", corrected.json()["change_position"]),
        (late["event_id"], "event.recorded", late["position"]),
    ]
    ids = {r.position: r.webhook_id for r in backfilled}
    assert ids[late["position"]] == live_id  # an existing message keeps its id
    assert len(set(ids.values())) == 4  # the backfilled ones are new messages
    events = {r.position: r.json["data"]["event"] for r in backfilled}
    assert events[early[0]["position"]]["revision"] == 1 and events[early[0]["position"]].get("fatalities") is None
    assert events[corrected.json()["change_position"]]["revision"] == 2
    assert events[corrected.json()["change_position"]]["fatalities"] == 3
    wait_deliveries(hooks, sub["id"], all_delivered(4))


def test_replay_respects_the_subscription_filters(
    hooks: TestClient, receiver: Receiver, hook_container: Container
) -> None:
    record(hooks, strike())
    nato = record(hooks, suspension("nato"))
    assert hook_container.wait_for_position(hook_container.store.max_position(), 10)
    endpoint = receiver.endpoint("filtered-replay")
    sub = subscribe(hooks, endpoint, actors=["nato"])
    assert replay(hooks, sub["id"], {"after": 0}).status_code == 200
    endpoint.wait_count(1, TIMEOUT)
    assert endpoint.quiet(0.5) == []
    assert [r.event_id for r in endpoint.snapshot()] == [nato["event_id"]]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"after": 0, "since": "2020-01-01T00:00:00Z"},
        {"after": -1},
        {"after": "x"},
        {"since": "yesterday"},
        {"since": "2020-01-01T00:00:00"},  # no offset
        {"after": 0, "extra": 1},
    ],
)
def test_bad_replay_bodies_are_422(hooks: TestClient, receiver: Receiver, body: dict[str, Any]) -> None:
    sub = subscribe(hooks, receiver.endpoint("replay-bad"))
    assert_problem(replay(hooks, sub["id"], body), 422)


def test_replay_and_deliveries_of_an_unknown_subscription_are_404(hooks: TestClient) -> None:
    unknown = str(uuid.uuid4())
    assert_problem(replay(hooks, unknown, {"after": 0}), 404)
    assert_problem(hooks.get(f"/v1/subscriptions/{unknown}/deliveries", headers=ADMIN), 404)
    assert_problem(hooks.post(f"/v1/subscriptions/{unknown}/rotate-secret", headers=ADMIN), 404)


def test_deliveries_are_paginated_and_filtered_by_status(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("pages")
    sub = subscribe(hooks, endpoint)
    facts = [record(hooks, strike(f"actor-{i}")) for i in range(5)]
    wait_deliveries(hooks, sub["id"], all_delivered(5))
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = hooks.get(f"/v1/subscriptions/{sub['id']}/deliveries", params=params, headers=ADMIN)
        assert page.status_code == 200, page.text
        seen += [i["position"] for i in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [f["position"] for f in facts]
    assert deliveries(hooks, sub["id"], status="pending") == []
    assert_problem(
        hooks.get(f"/v1/subscriptions/{sub['id']}/deliveries", params={"status": "lost"}, headers=ADMIN), 422
    )
