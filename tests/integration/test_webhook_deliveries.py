"""Webhook deliveries to a real receiver on 127.0.0.1: what they carry, which are sent, in what order.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from bench.common.processes import wait_until
from service.bootstrap import Container
from tests.support.subscriptions import (
    TIMEOUT,
    all_delivered,
    assert_verified,
    first_attempts,
    strike,
    subscribe,
    suspension,
    wait_deliveries,
)
from tests.support.tokens import ADMIN, WRITE
from tests.support.webhook_receiver import Receiver, Reply
from tests.support.writes import record

# --- what a delivery looks like --------------------------------------------------------


def test_recorded_corrected_and_retracted_are_delivered_signed(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("lifecycle")
    subscribe(hooks, endpoint)
    fact = strike()
    recorded = record(hooks, fact)
    corrected = hooks.post(
        f"/v1/events/{fact['event_id']}/corrections",
        json={"changes": {"summary": "Drone strike near Baghdad airport", "fatalities": 10}, "reason": "detail"},
        headers=WRITE,
    )
    assert corrected.status_code == 201, corrected.text
    retracted = hooks.post(f"/v1/events/{fact['event_id']}/retraction", json={"reason": "duplicate"}, headers=WRITE)
    assert retracted.status_code == 201, retracted.text

    requests = endpoint.wait_count(3, TIMEOUT)
    assert endpoint.quiet(0.5) == []
    assert_verified(requests)
    bodies = [r.json for r in requests]
    assert [b["type"] for b in bodies] == ["event.recorded", "event.corrected", "event.retracted"]
    positions = [recorded["position"], corrected.json()["change_position"], retracted.json()["change_position"]]
    assert [b["data"]["position"] for b in bodies] == positions
    assert positions == sorted(positions) and len(set(positions)) == 3
    for body in bodies:
        assert set(body) == {"type", "timestamp", "data"}
        assert set(body["data"]) == {"position", "event"}
        assert body["timestamp"].endswith("Z")
    events = [b["data"]["event"] for b in bodies]
    assert [e["event_id"] for e in events] == [fact["event_id"]] * 3
    assert [e["revision"] for e in events] == [1, 2, 3]
    assert [e["status"] for e in events] == ["active", "active", "retracted"]
    assert [e["position"] for e in events] == [recorded["position"]] * 3  # the fact's own position
    assert events[0] == recorded
    assert events[1] == {k: v for k, v in corrected.json().items() if k != "change_position"}
    assert events[1]["summary"] == "Drone strike near Baghdad airport" and events[1]["fatalities"] == 10
    assert events[2]["summary"] == "Drone strike near Baghdad airport"
    # The message timestamp is the change's recording time.
    assert bodies[0]["timestamp"] == recorded["recorded_at"]

    ids = [r.webhook_id for r in requests]
    assert len(set(ids)) == 3 and all(ids)
    for request in requests:
        assert request.headers["content-type"].split(";")[0].strip() == "application/json"
        assert request.headers["webhook-timestamp"].isdigit()
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        assert all(s.startswith("v1,") for s in request.signatures)


# --- filters ----------------------------------------------------------------------------


def test_type_and_actor_filters(hooks: TestClient, receiver: Receiver) -> None:
    by_type = receiver.endpoint("types")
    by_actor = receiver.endpoint("actors")
    everything = receiver.endpoint("all")
    subscriptions = [
        (subscribe(hooks, by_type, types=["StrikeOccurred"]), 2),
        (subscribe(hooks, by_actor, actors=["nato"]), 4),
        (subscribe(hooks, everything), 7),
    ]

    strike_us = record(hooks, strike("us"))
    strike_on_nato = record(hooks, strike("militia-x", target="nato"))  # nato as target: any role counts
    nato_suspends = record(hooks, suspension("nato"))
    canada_suspends = record(hooks, suspension("canada"))
    hosted_by_nato = record(hooks, suspension("germany", host="nato"))
    # A correction that brings nato into a fact: filters look at the fact after the change.
    corrected = hooks.post(
        f"/v1/events/{canada_suspends['event_id']}/corrections",
        json={
            "changes": {"actors": [{"id": "canada", "role": "actor"}, {"id": "nato", "role": "host"}]},
            "reason": "nato hosts it",
        },
        headers=WRITE,
    )
    assert corrected.status_code == 201, corrected.text
    # And one that takes nato out: the actor-filtered subscription hears nothing of it.
    removed = hooks.post(
        f"/v1/events/{nato_suspends['event_id']}/corrections",
        json={
            "changes": {"actors": [{"id": "italy", "role": "actor"}, {"id": "iraq", "role": "host"}]},
            "reason": "it was italy",
        },
        headers=WRITE,
    )
    assert removed.status_code == 201, removed.text

    # Once every message in the outbox is delivered, no request is still to come.
    for created, messages in subscriptions:
        wait_deliveries(hooks, created["id"], all_delivered(messages))
    assert len(everything.snapshot()) == 7

    typed = by_type.snapshot()
    assert_verified(typed)
    assert sorted(r.event_id for r in typed) == sorted([strike_us["event_id"], strike_on_nato["event_id"]])
    assert {r.type for r in typed} == {"event.recorded"}

    acted = by_actor.snapshot()
    assert_verified(acted)
    # (Order is the business of test_first_attempts_follow_log_order; here: which, and what.)
    assert sorted((r.position, r.event_id, r.type) for r in acted) == [
        (strike_on_nato["position"], strike_on_nato["event_id"], "event.recorded"),
        (nato_suspends["position"], nato_suspends["event_id"], "event.recorded"),
        (hosted_by_nato["position"], hosted_by_nato["event_id"], "event.recorded"),
        (corrected.json()["change_position"], canada_suspends["event_id"], "event.corrected"),
    ]
    correction = next(r for r in acted if r.type == "event.corrected")
    assert {a["id"] for a in correction.json["data"]["event"]["actors"]} == {"canada", "nato"}
    assert correction.json["data"]["event"]["revision"] == 2


def wait_outbox(container: Container, position: int) -> None:
    """Until the webhook outbox projection has handled ``position``."""
    outbox = container.projections[1]
    wait_until(lambda: outbox.position() >= position, TIMEOUT, interval=0.02, what=f"outbox at {position}")


def test_filters_changed_by_patch_apply_to_later_changes(
    hooks: TestClient, receiver: Receiver, hook_container: Container
) -> None:
    endpoint = receiver.endpoint("patched")
    sub = subscribe(hooks, endpoint, types=["StatementIssued"])
    earlier = record(hooks, strike())
    wait_outbox(hook_container, earlier["position"])  # filtered out under the old filter
    patched = hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"types": ["StrikeOccurred"]}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    later = record(hooks, strike("iran", target="us"))
    endpoint.wait_count(1, TIMEOUT)
    assert endpoint.quiet(0.5) == []
    assert [r.event_id for r in endpoint.snapshot()] == [later["event_id"]]


def test_paused_subscription_is_not_attempted_until_resumed(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("paused")
    sub = subscribe(hooks, endpoint)
    assert hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "paused"}, headers=ADMIN).status_code == 200
    while_paused = record(hooks, strike())
    assert endpoint.quiet(1.0) == []
    assert hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "active"}, headers=ADMIN).status_code == 200
    requests = endpoint.wait_count(1, TIMEOUT)
    assert requests[0].event_id == while_paused["event_id"]
    assert_verified(requests)


# --- order per subscription -------------------------------------------------------------


def test_first_attempts_follow_log_order(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("order", default=Reply(200, delay=0.05))
    sub = subscribe(hooks, endpoint)
    facts = [record(hooks, strike(f"actor-{i}")) for i in range(20)]
    wait_deliveries(hooks, sub["id"], all_delivered(20), what="20 delivered")
    firsts = first_attempts(endpoint.snapshot())
    positions = [r.position for r in firsts]
    assert sorted(positions) == [f["position"] for f in facts]
    assert positions == sorted(positions), f"first attempts out of log order: {positions}"


def test_first_attempts_follow_log_order_for_a_batch(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("order-batch", default=Reply(200, delay=0.05))
    sub = subscribe(hooks, endpoint)
    response = hooks.post("/v1/events/batch", json={"events": [strike(f"actor-{i}") for i in range(20)]}, headers=WRITE)
    assert response.status_code == 201, response.text
    facts = response.json()["items"]
    wait_deliveries(hooks, sub["id"], all_delivered(20), what="20 delivered")
    firsts = first_attempts(endpoint.snapshot())
    positions = [r.position for r in firsts]
    assert sorted(positions) == [f["position"] for f in facts]
    assert positions == sorted(positions), f"first attempts out of log order: {positions}"
