"""Webhook subscriptions as tests drive them: facts to deliver, subscribing a receiver, waiting for deliveries."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from bench.common.processes import wait_until
from service.webhooks.guard import Resolve
from tests.support.tokens import ADMIN
from tests.support.webhook_receiver import Endpoint, Received, Receiver

TIMEOUT = 15.0  # seconds: the upper bound of any wait for a delivery


def strike(perpetrator: str = "us", target: str = "qasem-soleimani", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "StrikeOccurred",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-03",
        "summary": f"Drone strike by {perpetrator}",
        "actors": [
            {"id": perpetrator, "role": "perpetrator"},
            {"id": target, "role": "target"},
        ],
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


def subscribe(client: TestClient, endpoint: Endpoint, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/subscriptions", json={"url": endpoint.url, **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    endpoint.add_secret(created["secret"])
    return created


def deliveries(client: TestClient, subscription_id: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/subscriptions/{subscription_id}/deliveries",
        params={"limit": 1000, **params},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def wait_deliveries(
    client: TestClient,
    subscription_id: str,
    condition: Any,
    timeout: float = TIMEOUT,
    what: str = "",
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


class FakeResolver:
    """A resolver for ``bootstrap(resolve=...)``: chosen names get chosen addresses, and every
    lookup is counted; any other name goes to ``fallback``, or fails as unknown without one."""

    def __init__(self, answers: dict[str, list[str]], fallback: Resolve | None = None):
        self.answers = answers
        self.fallback = fallback
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host in self.answers:
            return list(self.answers[host])
        if self.fallback is not None:
            return self.fallback(host, port)
        raise socket.gaierror(socket.EAI_NONAME, "unknown in this test")


def subscribe_by_name(
    hooks: TestClient, receiver: Receiver, resolver: FakeResolver, name: str
) -> tuple[FakeResolver, Endpoint, dict[str, Any]]:
    """A subscription to the receiver as http://receiver.test:PORT/..., a name only the service's
    resolver (the ``resolver`` fixture) knows."""
    resolver.answers["receiver.test"] = ["127.0.0.1"]
    endpoint = receiver.endpoint(name)
    created = subscribe(hooks, endpoint, url=endpoint.url.replace("127.0.0.1", "receiver.test"))
    return resolver, endpoint, created
