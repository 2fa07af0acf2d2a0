"""Webhook deliveries that fail: retries, exhaustion, timeouts, 410 Gone, Retry-After; and secret rotation.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from fastapi.testclient import TestClient

from bench.common.processes import wait_until
from service.bootstrap import Container
from tests.support.subscriptions import (
    TIMEOUT,
    all_delivered,
    assert_verified,
    deliveries,
    received_with_event,
    replay,
    strike,
    subscribe,
    wait_deliveries,
)
from tests.support.tokens import ADMIN, WRITE
from tests.support.webhook_receiver import Received, Receiver, Reply
from tests.support.writes import record

# --- retries, exhaustion, replay ---------------------------------------------------------


def test_failing_receiver_that_recovers_gets_everything(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("flaky")
    sub = subscribe(hooks, endpoint)
    endpoint.script(500, 500)
    fact = record(hooks, strike())
    items = wait_deliveries(hooks, sub["id"], all_delivered(1), what="delivered after 500, 500")
    requests = endpoint.snapshot()
    assert [r.answered for r in requests] == [500, 500, 200]
    assert_verified(requests)
    assert len({r.webhook_id for r in requests}) == 1  # one message, one id on every attempt
    assert len({r.body for r in requests}) == 1
    item = items[0]
    assert (item["message_id"], item["position"], item["event_id"]) == (
        requests[0].webhook_id,
        fact["position"],
        fact["event_id"],
    )
    assert item["type"] == "event.recorded" and item["fact_type"] == "StrikeOccurred"
    attempts = item["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert all(isinstance(a["latency_ms"], int) and a["latency_ms"] >= 0 for a in attempts)
    assert all(a["at"].endswith("Z") for a in attempts)
    assert attempts[0]["error"] and "500" in attempts[0]["error"]
    assert "scripted" in attempts[0]["error"]  # an excerpt of the receiver's answer
    assert attempts[2]["error"] is None
    # Retries wait for the (scaled) schedule: 0.2 s ± 20 %.
    gaps = [b.arrived - a.arrived for a, b in zip(requests, requests[1:], strict=False)]
    assert all(gap >= 0.15 for gap in gaps), gaps

    # Several facts while the receiver fails a few times: nothing lost, duplicates share an id.
    endpoint.script(500, 503, 500, 502)
    facts = [record(hooks, strike(f"actor-{i}")) for i in range(5)]
    wait_deliveries(hooks, sub["id"], all_delivered(6), what="six delivered")
    requests = endpoint.snapshot()[3:]
    assert_verified(requests)
    assert received_with_event(requests, {f["event_id"] for f in facts}) == {f["event_id"] for f in facts}
    by_id: dict[str, set[tuple[int, bytes]]] = defaultdict(set)
    for request in requests:
        by_id[request.webhook_id].add((request.position, request.body))
    assert len(by_id) == 5
    assert all(len(variants) == 1 for variants in by_id.values()), by_id
    assert hooks.get("/v1/subscriptions/" + sub["id"], headers=ADMIN).json()["status"] == "active"


def test_exhausted_message_fails_and_replay_delivers_it_with_the_same_id(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("down", default=500)
    sub = subscribe(hooks, endpoint)
    fact = record(hooks, strike())
    items = wait_deliveries(hooks, sub["id"], lambda it: it and it[0]["status"] == "failed", what="the message failed")
    # The first attempt and one per scheduled delay, then no more.
    assert [a["status_code"] for a in items[0]["attempts"]] == [500, 500, 500, 500]
    assert endpoint.quiet(0.8) == []
    assert len(endpoint.snapshot()) == 4
    failed_id = endpoint.snapshot()[0].webhook_id
    assert deliveries(hooks, sub["id"], status="failed")[0]["message_id"] == failed_id
    assert deliveries(hooks, sub["id"], status="delivered") == []
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["status"] == "active"

    endpoint.set_default(200)
    replayed = replay(hooks, sub["id"], {"after": 0})
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["messages"] == 1
    items = wait_deliveries(hooks, sub["id"], all_delivered(1), what="delivered after replay")
    requests = endpoint.snapshot()
    assert len(requests) == 5 and requests[-1].answered == 200
    assert requests[-1].webhook_id == failed_id
    assert requests[-1].event_id == fact["event_id"]
    assert_verified(requests)
    assert [a["status_code"] for a in items[0]["attempts"]][-1] == 200


def test_an_attempt_that_times_out_is_retried_with_the_same_id(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("slowpoke")
    sub = subscribe(hooks, endpoint)
    endpoint.script(Reply(200, delay=3.0))  # longer than webhook_timeout (2 s)
    record(hooks, strike())
    items = wait_deliveries(hooks, sub["id"], all_delivered(1), what="delivered after a timeout")
    attempts = items[0]["attempts"]
    assert len(attempts) == 2, attempts
    assert attempts[0]["status_code"] is None and attempts[0]["error"]
    assert attempts[0]["latency_ms"] >= 1500
    assert attempts[1]["status_code"] == 200
    requests = endpoint.snapshot()
    assert len(requests) == 2 and requests[0].webhook_id == requests[1].webhook_id
    assert_verified(requests)


def test_the_target_is_checked_again_at_delivery(client: TestClient, container: Container, receiver: Receiver) -> None:
    # A subscription to 127.0.0.1 made where it was allowed, delivered by a dispatcher
    # whose settings do not allow it (the plain `container` has no allow-list).
    from service.webhooks.subscriptions import Subscriptions

    endpoint = receiver.endpoint("ssrf")
    allowed = Subscriptions(
        container.engine, "127.0.0.1", container.store.max_position, clock=container.subscriptions.clock
    )
    sub = allowed.create(endpoint.url)
    record(client, strike())
    items = wait_deliveries(client, sub["id"], lambda it: it and it[0]["attempts"], what="an attempt")
    attempt = items[0]["attempts"][0]
    assert attempt["status_code"] is None
    assert "127.0.0.1" in attempt["error"] or "refused" in attempt["error"], attempt
    assert items[0]["status"] in ("pending", "failed")
    assert endpoint.snapshot() == []


def test_admin_calls_succeed_while_deliveries_are_being_written(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("busy-db")
    sub = subscribe(hooks, endpoint)
    other = subscribe(hooks, receiver.endpoint("busy-db-2"))
    response = hooks.post("/v1/events/batch", json={"events": [strike(f"a-{i}") for i in range(200)]}, headers=WRITE)
    assert response.status_code == 201, response.text
    failures = []
    deadline = time.monotonic() + 30
    calls = 0
    while time.monotonic() < deadline:
        calls += 1
        for method, path, body in (
            ("PATCH", f"/v1/subscriptions/{other['id']}", {"description": f"call {calls}"}),
            ("POST", f"/v1/subscriptions/{other['id']}/rotate-secret", None),
            ("GET", f"/v1/subscriptions/{sub['id']}/deliveries", None),
        ):
            try:
                answer = hooks.request(method, path, json=body, headers=ADMIN)
            except Exception as exc:  # the TestClient re-raises what would be a 500
                failures.append((method, path, 500, f"{type(exc).__name__}: {str(exc)[:200]}"))
                continue
            if answer.status_code != 200:
                failures.append((method, path, answer.status_code, answer.text[:200]))
        if len({r.webhook_id for r in endpoint.snapshot()}) >= 200:
            break
    assert not failures, f"{len(failures)} of {calls * 3} admin calls failed during deliveries: {failures[:3]}"
    wait_deliveries(hooks, sub["id"], all_delivered(200), timeout=30)


# --- 410 Gone ---------------------------------------------------------------------------


def test_410_disables_the_subscription_until_reactivated(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("gone")
    sub = subscribe(hooks, endpoint)
    endpoint.script(410)
    record(hooks, strike())

    def disabled() -> dict[str, Any] | None:
        got = hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()
        return got if got["status"] == "disabled" else None

    got = wait_until(disabled, TIMEOUT, interval=0.05, what="disabled after 410")
    assert got["disabled_reason"]
    assert [r.answered for r in endpoint.snapshot()] == [410]  # 410 is not retried
    assert [s["status"] for s in hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"]] == ["disabled"]
    items = deliveries(hooks, sub["id"])
    assert [(i["status"], [a["status_code"] for a in i["attempts"]]) for i in items] == [("failed", [410])]

    record(hooks, strike("iran", target="us"))
    assert endpoint.quiet(1.5) == []

    reactivated = hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "active"}, headers=ADMIN)
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["status"] == "active"
    after = record(hooks, strike("canada", target="us"))
    endpoint.wait_for(
        lambda rs: any(r.event_id == after["event_id"] and r.answered == 200 for r in rs),
        TIMEOUT,
        "a fact after re-enabling",
    )
    assert_verified(endpoint.snapshot())


# --- Retry-After ------------------------------------------------------------------------


def test_retry_after_is_honoured(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("busy")
    sub = subscribe(hooks, endpoint)
    endpoint.script(Reply(429, {"Retry-After": "1"}))
    record(hooks, strike())
    first, second = endpoint.wait_count(2, TIMEOUT)[:2]
    assert (first.answered, second.answered) == (429, 200)
    assert first.webhook_id == second.webhook_id
    gap = second.arrived - first.arrived
    assert gap >= 0.95, f"retried after {gap:.2f}s although Retry-After said 1 s (schedule 0.2 s)"
    assert gap < 5, gap
    items = wait_deliveries(hooks, sub["id"], all_delivered(1))
    assert [a["status_code"] for a in items[0]["attempts"]] == [429, 200]


# --- secret rotation --------------------------------------------------------------------


def test_rotation_signs_with_both_secrets(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("rotate")
    sub = subscribe(hooks, endpoint)
    old = sub["secret"]
    record(hooks, strike())
    before = endpoint.wait_count(1, TIMEOUT)[0]
    assert before.verified_by == [old] and len(before.signatures) == 1

    rotated = hooks.post(f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=ADMIN)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    endpoint.add_secret(new)
    got = hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)
    assert new not in got.text and old not in got.text

    record(hooks, strike("iran", target="us"))
    after = endpoint.wait_count(2, TIMEOUT)[1]
    assert len(after.signatures) == 2, after.headers["webhook-signature"]
    assert all(s.startswith("v1,") for s in after.signatures)
    assert sorted(after.verified_by) == sorted([old, new])
    assert after.verifies_with(old) and after.verifies_with(new)
    # Each signature on its own verifies with exactly one of the secrets.
    for single in after.signatures:
        alone = Received(after.path, {**after.headers, "webhook-signature": single}, after.body, 0, [], [], 200)
        assert [alone.verifies_with(old), alone.verifies_with(new)].count(True) == 1
