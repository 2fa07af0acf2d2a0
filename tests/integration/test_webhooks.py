"""Webhooks end to end: subscriptions over HTTP, and deliveries to a real receiver on 127.0.0.1.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container, bootstrap
from service.settings import Settings
from service.webhooks import guard
from tests.conftest import ADMIN, READ, WRITE
from tests.support.processes import ServiceProcess, free_port, service_env, start_service, wait_healthy, wait_until
from tests.support.webhook_receiver import Endpoint, Received, Receiver, Reply

PROBLEM_JSON = "application/problem+json"
TIMEOUT = 15.0  # seconds: the upper bound of any wait for a delivery


# --- helpers ------------------------------------------------------------------------------


def strike(perpetrator: str = "us", target: str = "qasem-soleimani", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "StrikeOccurred",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-03",
        "summary": f"Drone strike by {perpetrator}",
        "actors": [{"id": perpetrator, "role": "perpetrator"}, {"id": target, "role": "target"}],
        "means": "drone",
    }
    body.update(overrides)
    return body


def suspension(actor: str = "nato", host: str = "iraq", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "MissionSuspended",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-04",
        "summary": f"{actor} suspends its training mission",
        "actors": [{"id": actor, "role": "actor"}, {"id": host, "role": "host"}],
        "mission": f"{actor}-training",
        "personnel": 500,
    }
    body.update(overrides)
    return body


def record(client: TestClient, fact: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/events", json=fact, headers=WRITE)
    assert response.status_code == 201, response.text
    return response.json()


def subscribe(client: TestClient, endpoint: Endpoint, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/subscriptions", json={"url": endpoint.url, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    endpoint.add_secret(created["secret"])
    return created


def deliveries(client: TestClient, subscription_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/subscriptions/{subscription_id}/deliveries", params={"limit": 1000, **params}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def wait_deliveries(
    client: TestClient, subscription_id: str, condition: Any, timeout: float = TIMEOUT, what: str = ""
) -> list[dict[str, Any]]:
    last: list[dict[str, Any]] = []

    def check() -> list[dict[str, Any]] | None:
        nonlocal last
        last = deliveries(client, subscription_id)
        return last if condition(last) else None

    try:
        return wait_until(check, timeout, interval=0.05, what=what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; deliveries: {last}") from None


def all_delivered(count: int) -> Any:
    return lambda items: len(items) == count and all(i["status"] == "delivered" for i in items)


def replay(client: TestClient, subscription_id: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/subscriptions/{subscription_id}/replay", json=body, headers=ADMIN)


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= set(problem)
    if field is not None:
        fields = [e.get("field", "") for e in problem.get("errors") or []]
        assert any(f == field or f.startswith(field + ".") for f in fields), problem
    return problem


def received_with_event(requests: list[Received], event_ids: set[str]) -> set[str]:
    return {r.event_id for r in requests if r.answered == 200} & event_ids


def assert_verified(requests: list[Received]) -> None:
    """Every request the receiver got carried a valid Standard Webhooks signature."""
    assert requests
    for request in requests:
        assert request.verified_by, (request.headers, request.verify_errors)


def first_attempts(requests: list[Received]) -> list[Received]:
    seen: set[str] = set()
    firsts = []
    for request in requests:
        if request.webhook_id not in seen:
            seen.add(request.webhook_id)
            firsts.append(request)
    return firsts


# --- 1. the subscription API --------------------------------------------------------------


def test_create_get_list_patch_delete(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("crud")
    response = hooks.post(
        "/v1/subscriptions",
        json={"url": endpoint.url, "types": ["StrikeOccurred", "StatementIssued"], "actors": ["nato", "us"],
              "description": "analysts' desk"},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > len("whsec_") + 16
    assert created["status"] == "active"
    assert created["url"] == endpoint.url
    assert created["types"] == ["StrikeOccurred", "StatementIssued"]
    assert created["actors"] == ["nato", "us"]
    assert created["description"] == "analysts' desk"
    assert created["created_at"].endswith("Z")
    uuid.UUID(created["id"])
    sub_id = created["id"]

    # The secret is shown at creation only.
    got = hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN)
    assert got.status_code == 200, got.text
    assert "secret" not in got.json() and secret not in got.text
    assert {k: got.json()[k] for k in ("id", "url", "types", "actors", "status")} == {
        k: created[k] for k in ("id", "url", "types", "actors", "status")
    }
    listed = hooks.get("/v1/subscriptions", headers=ADMIN)
    assert listed.status_code == 200, listed.text
    assert [s["id"] for s in listed.json()["items"]] == [sub_id]
    assert secret not in listed.text and all("secret" not in s for s in listed.json()["items"])

    other = receiver.endpoint("crud-2")
    patched = hooks.patch(
        f"/v1/subscriptions/{sub_id}",
        json={"url": other.url, "types": ["MissionSuspended"], "actors": ["canada"], "status": "paused"},
        headers=ADMIN,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["url"], body["types"], body["actors"], body["status"]) == (
        other.url, ["MissionSuspended"], ["canada"], "paused",
    )
    assert secret not in patched.text
    again = hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN).json()
    assert (again["url"], again["types"], again["actors"], again["status"]) == (
        other.url, ["MissionSuspended"], ["canada"], "paused",
    )
    resumed = hooks.patch(f"/v1/subscriptions/{sub_id}", json={"status": "active"}, headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    assert resumed.json()["types"] == ["MissionSuspended"]  # a partial PATCH keeps the rest

    deleted = hooks.delete(f"/v1/subscriptions/{sub_id}", headers=ADMIN)
    assert deleted.status_code == 204, deleted.text
    assert_problem(hooks.get(f"/v1/subscriptions/{sub_id}", headers=ADMIN), 404)
    assert_problem(hooks.delete(f"/v1/subscriptions/{sub_id}", headers=ADMIN), 404)
    assert_problem(hooks.patch(f"/v1/subscriptions/{sub_id}", json={"status": "active"}, headers=ADMIN), 404)
    assert hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []
    assert_problem(hooks.get(f"/v1/subscriptions/{uuid.uuid4()}", headers=ADMIN), 404)


def test_a_deleted_subscription_receives_nothing(hooks: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("deleted")
    sub = subscribe(hooks, endpoint)
    assert hooks.delete(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).status_code == 204
    record(hooks, strike())
    probe = receiver.endpoint("probe")
    subscribe(hooks, probe)
    record(hooks, strike())
    probe.wait_count(1, TIMEOUT)  # the dispatcher is alive and has had its chance
    assert endpoint.quiet(0.5) == [] and endpoint.snapshot() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/subscriptions"),
        ("post", "/v1/subscriptions"),
        ("get", "/v1/subscriptions/{id}"),
        ("patch", "/v1/subscriptions/{id}"),
        ("delete", "/v1/subscriptions/{id}"),
        ("post", "/v1/subscriptions/{id}/rotate-secret"),
        ("get", "/v1/subscriptions/{id}/deliveries"),
        ("post", "/v1/subscriptions/{id}/replay"),
    ],
)
def test_subscriptions_need_the_admin_scope(
    hooks: TestClient, receiver: Receiver, method: str, path: str
) -> None:
    endpoint = receiver.endpoint("auth")
    sub = subscribe(hooks, endpoint)
    url = path.format(id=sub["id"])
    body: dict[str, Any] | None = None
    if method == "post" and path == "/v1/subscriptions":
        body = {"url": endpoint.url}
    elif "replay" in path:
        body = {"after": 0}
    elif method == "patch":
        body = {"status": "paused"}
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    assert_problem(hooks.request(method.upper(), url, **kwargs), 401)
    assert_problem(hooks.request(method.upper(), url, headers={"Authorization": "Bearer nope"}, **kwargs), 401)
    assert_problem(hooks.request(method.upper(), url, headers=WRITE, **kwargs), 403)
    assert_problem(hooks.request(method.upper(), url, headers=READ, **kwargs), 403)
    # Nothing was changed by the refused calls.
    listed = hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"]
    assert [(s["id"], s["status"]) for s in listed] == [(sub["id"], "active")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"types": ["Earthquake"]}, "types"),
        ({"types": "StrikeOccurred"}, "types"),
        ({"actors": ["NATO forces!"]}, "actors"),
        ({"actors": [""]}, "actors"),
        ({"url": "ftp://127.0.0.1/x"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": None}, "url"),
        ({"secret": "whsec_mine"}, "secret"),
        ({"status": "active", "colour": "red"}, None),
    ],
)
def test_bad_subscription_bodies_are_422_problems(
    hooks: TestClient, receiver: Receiver, body: dict[str, Any], field: str | None
) -> None:
    endpoint = receiver.endpoint("bad")
    problem = assert_problem(hooks.post("/v1/subscriptions", json={"url": endpoint.url, **body}, headers=ADMIN), 422)
    if field is not None:
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    else:
        assert {e["field"] for e in problem["errors"]} & {"status", "colour"}, problem
    assert hooks.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []

    # The same rules on PATCH (status is a PATCH field, but not 'disabled' or 'deleted').
    sub = subscribe(hooks, endpoint)
    patch = {k: v for k, v in body.items() if k != "status"} or {"status": "deleted"}
    if patch == {"url": None}:
        return  # on PATCH, null means "leave it as it is"
    assert_problem(hooks.patch(f"/v1/subscriptions/{sub['id']}", json=patch, headers=ADMIN), 422)
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["url"] == endpoint.url


def test_patch_status_only_active_or_paused(hooks: TestClient, receiver: Receiver) -> None:
    sub = subscribe(hooks, receiver.endpoint("status"))
    for status in ("disabled", "deleted", "ACTIVE", ""):
        assert_problem(
            hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"status": status}, headers=ADMIN), 422, "status"
        )
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["status"] == "active"


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://localhost:9/x", "http://169.254.169.254/latest",
     "http://[::1]:9/x", "http://192.168.0.10/x", "http://224.0.0.1/x", "http://0.0.0.0:9/x",
     "http://[::ffff:10.0.0.1]/x", "http://2130706433/x", "http://[fe80::1]/x", "https://127.0.0.1/x"],
)
def test_private_and_loopback_urls_are_refused_without_an_allow_list(client: TestClient, url: str) -> None:
    # The plain `client` fixture has no TIMELINE_WEBHOOK_ALLOW_HOSTS.
    problem = assert_problem(client.post("/v1/subscriptions", json={"url": url}, headers=ADMIN), 422, "url")
    assert any(e["field"] == "url" for e in problem["errors"])
    assert client.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []


def test_allow_list_names_only_what_it_names(hooks: TestClient, receiver: Receiver) -> None:
    sub = subscribe(hooks, receiver.endpoint("allowed"))  # 127.0.0.1 is allow-listed
    for url in ("http://10.1.2.3/x", "http://192.168.1.1/x", "http://[::1]:9/x"):
        assert_problem(hooks.post("/v1/subscriptions", json={"url": url}, headers=ADMIN), 422, "url")
        assert_problem(hooks.patch(f"/v1/subscriptions/{sub['id']}", json={"url": url}, headers=ADMIN), 422, "url")
    assert hooks.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN).json()["url"] == sub["url"]


# --- 2. what a delivery looks like --------------------------------------------------------


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


# --- 3. filters ----------------------------------------------------------------------------


def test_type_and_actor_filters(hooks: TestClient, receiver: Receiver) -> None:
    by_type = receiver.endpoint("types")
    by_actor = receiver.endpoint("actors")
    everything = receiver.endpoint("all")
    subscribe(hooks, by_type, types=["StrikeOccurred"])
    subscribe(hooks, by_actor, actors=["nato"])
    subscribe(hooks, everything)

    strike_us = record(hooks, strike("us"))
    strike_on_nato = record(hooks, strike("militia-x", target="nato"))  # nato as target: any role counts
    nato_suspends = record(hooks, suspension("nato"))
    canada_suspends = record(hooks, suspension("canada"))
    hosted_by_nato = record(hooks, suspension("germany", host="nato"))
    # A correction that brings nato into a fact: filters look at the fact after the change.
    corrected = hooks.post(
        f"/v1/events/{canada_suspends['event_id']}/corrections",
        json={"changes": {"actors": [{"id": "canada", "role": "actor"}, {"id": "nato", "role": "host"}]},
              "reason": "nato hosts it"},
        headers=WRITE,
    )
    assert corrected.status_code == 201, corrected.text
    # And one that takes nato out: the actor-filtered subscription hears nothing of it.
    removed = hooks.post(
        f"/v1/events/{nato_suspends['event_id']}/corrections",
        json={"changes": {"actors": [{"id": "italy", "role": "actor"}, {"id": "iraq", "role": "host"}]},
              "reason": "it was italy"},
        headers=WRITE,
    )
    assert removed.status_code == 201, removed.text

    everything.wait_count(7, TIMEOUT)
    time.sleep(0.5)  # the same dispatcher serves all three; give the others a moment after the last
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


# --- 4. retries, exhaustion, replay ---------------------------------------------------------


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
        requests[0].webhook_id, fact["position"], fact["event_id"],
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


def test_exhausted_message_fails_and_replay_delivers_it_with_the_same_id(
    hooks: TestClient, receiver: Receiver
) -> None:
    endpoint = receiver.endpoint("down", default=500)
    sub = subscribe(hooks, endpoint)
    fact = record(hooks, strike())
    items = wait_deliveries(
        hooks, sub["id"], lambda it: it and it[0]["status"] == "failed", what="the message failed"
    )
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
    from service.domain.webhooks import SubscriptionIn
    from service.webhooks.subscriptions import Subscriptions

    endpoint = receiver.endpoint("ssrf")
    allowed = Subscriptions(container.engine, "127.0.0.1", container.store.max_position, clock=container.subscriptions.clock)
    sub = allowed.create(SubscriptionIn(url=endpoint.url))
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
    response = hooks.post("/v1/events/batch", json={"events": [strike(f"a-{i}") for i in range(200)]},
                          headers=WRITE)
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


# --- 5. 410 Gone ---------------------------------------------------------------------------


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
    endpoint.wait_for(lambda rs: any(r.event_id == after["event_id"] and r.answered == 200 for r in rs),
                      TIMEOUT, "a fact after re-enabling")
    assert_verified(endpoint.snapshot())


# --- 6. Retry-After ------------------------------------------------------------------------


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


# --- 7. secret rotation --------------------------------------------------------------------


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


# --- 8. replay ---------------------------------------------------------------------------


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
        f"/v1/events/{early[0]['event_id']}/corrections", json={"changes": {"fatalities": 3}, "reason": "count"},
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
    assert_problem(hooks.get(f"/v1/subscriptions/{sub['id']}/deliveries", params={"status": "lost"},
                             headers=ADMIN), 422)


# --- 9. order per subscription -------------------------------------------------------------


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
    response = hooks.post("/v1/events/batch", json={"events": [strike(f"actor-{i}") for i in range(20)]},
                          headers=WRITE)
    assert response.status_code == 201, response.text
    facts = response.json()["items"]
    wait_deliveries(hooks, sub["id"], all_delivered(20), what="20 delivered")
    firsts = first_attempts(endpoint.snapshot())
    positions = [r.position for r in firsts]
    assert sorted(positions) == [f["position"] for f in facts]
    assert positions == sorted(positions), f"first attempts out of log order: {positions}"


# --- 10. crash safety: the real server killed mid-delivery --------------------------------

CRASH_TOKENS = "hook-admin:admin,hook-writer:write"
CRASH_ADMIN = {"Authorization": "Bearer hook-admin"}
CRASH_WRITE = {"Authorization": "Bearer hook-writer"}
LEASE_WAIT_LIMIT = 40.0  # seconds we are prepared to wait for a killed dispatcher's lease


def start_server(database_url: str, log_path: Path) -> ServiceProcess:
    port = free_port()
    env = service_env(
        database_url,
        CRASH_TOKENS,
        TIMELINE_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        TIMELINE_WEBHOOK_RETRY_SCHEDULE="0.2,0.2,0.2",
        TIMELINE_WEBHOOK_TIMEOUT="2",
    )
    child = start_service(["serve", "--port", str(port)], env, log_path, port)
    try:
        wait_healthy(child, 30)
    except BaseException:
        child.kill()
        raise
    return child


@pytest.mark.e2e
def test_a_killed_dispatcher_loses_nothing(database_url: str, tmp_path: Path, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("slow", default=Reply(200, delay=1.0))
    server = start_server(database_url, tmp_path / "first.log")
    restarted: ServiceProcess | None = None
    try:
        created = httpx.post(f"{server.base_url}/v1/subscriptions", json={"url": endpoint.url},
                             headers=CRASH_ADMIN, timeout=15)
        assert created.status_code == 201, created.text
        sub = created.json()
        endpoint.add_secret(sub["secret"])
        facts = []
        for i in range(5):
            posted = httpx.post(f"{server.base_url}/v1/events", json=strike(f"actor-{i}"), headers=CRASH_WRITE,
                                timeout=15)
            assert posted.status_code == 201, posted.text
            facts.append(posted.json())
        # A delivery is in flight (the receiver sleeps 1 s before answering): kill now.
        endpoint.wait_count(1, TIMEOUT)
        server.signal(signal.SIGKILL)
        assert server.wait(10) is not None
        killed_at = time.monotonic()
        in_flight = {r.webhook_id for r in endpoint.snapshot()}

        restarted = start_server(database_url, tmp_path / "second.log")
        wanted = {f["event_id"] for f in facts}
        last: list[dict[str, Any]] = []

        def everything_delivered() -> bool:
            nonlocal last
            page = httpx.get(f"{restarted.base_url}/v1/subscriptions/{sub['id']}/deliveries",
                             headers=CRASH_ADMIN, timeout=15)
            assert page.status_code == 200, page.text
            last = page.json()["items"]
            return len(last) == 5 and all(i["status"] == "delivered" for i in last)

        try:
            wait_until(everything_delivered, LEASE_WAIT_LIMIT, interval=0.25, what="all delivered after restart")
        except TimeoutError:
            pytest.fail(
                f"FINDING: {LEASE_WAIT_LIMIT:.0f}s after the kill, messages claimed by the killed dispatcher are "
                f"still not delivered (lease = timeout + 30 s margin); deliveries: {last}"
            )
        waited = time.monotonic() - killed_at
        requests = endpoint.snapshot()
        assert_verified(requests)
        assert {r.event_id for r in requests} == wanted
        # At least once: what was in flight at the kill was sent again with the same id.
        ids_per_position: dict[int, set[str]] = defaultdict(set)
        for request in requests:
            ids_per_position[request.position].add(request.webhook_id)
        assert all(len(ids) == 1 for ids in ids_per_position.values()), ids_per_position
        resent = [r for r in requests if r.webhook_id in in_flight]
        assert len(resent) >= 2 * len(in_flight), (in_flight, [(r.webhook_id, r.arrived) for r in requests])
        print(f"\n[crash] {len(in_flight)} in flight at the kill; all delivered {waited:.1f}s after the kill")
    finally:
        server.kill()
        if restarted is not None:
            restarted.kill()


# --- 11. two dispatchers on one outbox (PostgreSQL) ----------------------------------------


def test_two_dispatchers_never_send_one_message_twice(
    database_url: str, hooks: TestClient, hook_container: Container, hook_settings: Settings, receiver: Receiver
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several dispatcher processes share an outbox on PostgreSQL only")
    second = bootstrap(hook_settings, apply_migrations=False)
    try:
        second.start_workers()
        outcomes: dict[str, int] = {"first": 0, "second": 0}
        lock = threading.Lock()

        def counting(name: str) -> Any:
            def listener(*_: object) -> None:
                with lock:
                    outcomes[name] += 1
            return listener

        hook_container.dispatcher.on_outcome.append(counting("first"))
        second.dispatcher.on_outcome.append(counting("second"))
        endpoints = [receiver.endpoint(f"pair-{i}", default=Reply(200, delay=0.02)) for i in range(6)]
        subs = [subscribe(hooks, e) for e in endpoints]
        facts = []
        for chunk in range(4):
            response = hooks.post("/v1/events/batch", json={"events": [strike(f"a-{chunk}-{i}") for i in range(50)]},
                                  headers=WRITE)
            assert response.status_code == 201, response.text
            facts += response.json()["items"]
        assert len(facts) == 200
        for endpoint in endpoints:
            endpoint.wait_for(lambda rs: len({r.webhook_id for r in rs}) >= 200, 60, "200 messages")
        for sub in subs:
            wait_deliveries(hooks, sub["id"], all_delivered(200), timeout=30)
        time.sleep(1.0)
        for endpoint in endpoints:
            requests = endpoint.snapshot()
            counts: dict[str, int] = defaultdict(int)
            for request in requests:
                counts[request.webhook_id] += 1
            twice = {k: v for k, v in counts.items() if v > 1}
            assert not twice, f"sent more than once with a receiver always answering 200: {twice}"
            assert len(counts) == 200
            assert {r.event_id for r in requests} == {f["event_id"] for f in facts}
        print(f"\n[two dispatchers] attempts by dispatcher: {outcomes}")
    finally:
        second.close()


def test_two_dispatchers_retry_each_message_once_per_failure(
    database_url: str, hooks: TestClient, hook_container: Container, hook_settings: Settings, receiver: Receiver
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several dispatcher processes share an outbox on PostgreSQL only")
    second = bootstrap(hook_settings, apply_migrations=False)
    try:
        second.start_workers()
        endpoints = [receiver.endpoint(f"retry-pair-{i}") for i in range(4)]
        for endpoint in endpoints:
            # The first attempt of every message fails, the second succeeds.
            endpoint.responder = lambda _id, earlier: Reply(500 if earlier == 0 else 200, delay=0.01)
        subs = [subscribe(hooks, e) for e in endpoints]
        response = hooks.post("/v1/events/batch", json={"events": [strike(f"r-{i}") for i in range(100)]},
                              headers=WRITE)
        assert response.status_code == 201, response.text
        for sub in subs:
            wait_deliveries(hooks, sub["id"], all_delivered(100), timeout=60)
        time.sleep(1.0)
        for endpoint in endpoints:
            by_id: dict[str, list[Received]] = defaultdict(list)
            for request in endpoint.snapshot():
                by_id[request.webhook_id].append(request)
            assert len(by_id) == 100
            wrong = {k: [r.answered for r in v] for k, v in by_id.items() if [r.answered for r in v] != [500, 200]}
            assert not wrong, f"messages not attempted exactly twice (500 then 200): {wrong}"
            for first, retry in by_id.values():
                # Never two attempts of one message at once: the retry starts after the first answered.
                assert first.finished is not None and retry.arrived >= first.finished
    finally:
        second.close()


# --- the address a delivery connects to ------------------------------------------------------


class FakeResolver:
    """Answers chosen names with chosen addresses (and counts the lookups); the rest fail."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.lookups: list[str] = []
        self.gaierror = socket.gaierror
        self.SOCK_STREAM = socket.SOCK_STREAM

    def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown in this test")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in self.answers[host]]


def subscribe_by_name(
    hooks: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, name: str
) -> tuple[FakeResolver, Endpoint, dict[str, Any]]:
    """A subscription to the receiver as http://receiver.test:PORT/..., a name only the guard resolves."""
    resolver = FakeResolver({"receiver.test": ["127.0.0.1"]})
    monkeypatch.setattr(guard, "socket", resolver)
    endpoint = receiver.endpoint(name)
    created = subscribe(hooks, endpoint, url=endpoint.url.replace("127.0.0.1", "receiver.test"))
    return resolver, endpoint, created


def test_a_delivery_connects_to_the_address_that_was_checked(
    hooks: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `receiver.test` exists only in the guard's resolver: nothing else on this machine can
    # resolve it, so a delivery that arrives went to the address the guard checked, with the
    # subscription's own name in its Host header. A second lookup (DNS rebinding) has no say.
    resolver, endpoint, _ = subscribe_by_name(hooks, receiver, monkeypatch, "pinned")
    record(hooks, strike())

    (request,) = endpoint.wait_count(1, TIMEOUT)
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert_verified([request])
    assert resolver.lookups.count("receiver.test") >= 2  # at creation, and again for the delivery


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    hooks: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, endpoint, created = subscribe_by_name(hooks, receiver, monkeypatch, "rebound")
    resolver.answers["receiver.test"] = ["10.0.0.7"]  # not on the allow-list
    record(hooks, strike())

    items = wait_deliveries(hooks, created["id"], lambda items: items and items[0]["attempts"], what="an attempt")
    assert items[0]["attempts"][0]["error"].startswith("refused: ")
    assert endpoint.snapshot() == []


@pytest.mark.parametrize(
    ("url", "answers", "expected"),
    [
        ("https://hooks.example.org/in?k=1", ["203.0.113.9"],
         [("https://203.0.113.9/in?k=1", "hooks.example.org", "hooks.example.org")]),
        ("https://user:pw@hooks.example.org:8443/in", ["2001:db8::5", "203.0.113.9"],
         [("https://user:pw@[2001:db8::5]:8443/in", "hooks.example.org:8443", "hooks.example.org"),
          ("https://user:pw@203.0.113.9:8443/in", "hooks.example.org:8443", "hooks.example.org")]),
        ("http://hooks.example.org/in", ["203.0.113.9"], [("http://203.0.113.9/in", "hooks.example.org", None)]),
    ],
)
def test_pinned_targets_keep_the_name_for_host_and_tls(
    monkeypatch: pytest.MonkeyPatch, url: str, answers: list[str], expected: list[tuple[str, str, str | None]]
) -> None:
    # Documentation addresses count as reserved: the allow-list admits them for this test.
    monkeypatch.setattr(guard, "socket", FakeResolver({"hooks.example.org": answers}))
    targets = guard.pinned(url, "203.0.113.0/24,2001:db8::/32")
    assert [(t.url, t.host, t.server_name) for t in targets] == expected


def test_a_host_the_allow_list_names_is_called_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver = FakeResolver({})
    monkeypatch.setattr(guard, "socket", resolver)
    assert guard.pinned("http://hooks.internal/x", "hooks.internal") == []
    assert resolver.lookups == []
