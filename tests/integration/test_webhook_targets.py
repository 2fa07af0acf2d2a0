"""Webhook targets: only globally routable unicast addresses, in whatever form they are written.

``ipaddress``'s ``is_private`` leaves out shared address space (100.64.0.0/10,
where 100.100.100.200 is a cloud metadata service), site-local fec0::/10 and
6to4 (2002::/16), which wraps any IPv4 address, loopback included. Each form
is refused at creation, at PATCH, and at delivery, when a name starts resolving
to it.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from fastapi.testclient import TestClient

from service.webhooks import guard
from tests.support.answers import assert_problem
from tests.support.subscriptions import (
    TIMEOUT,
    FakeResolver,
    assert_verified,
    strike,
    subscribe_by_name,
    wait_deliveries,
)
from tests.support.tokens import ADMIN
from tests.support.webhook_receiver import Receiver
from tests.support.writes import record

PUBLIC_NAME = "hooks.example.org"
PUBLIC = "8.8.8.8"

REFUSED = {
    "v4 loopback": "http://127.0.0.1/in",
    "v6 loopback": "http://[::1]/in",
    "mapped loopback": "http://[::ffff:127.0.0.1]/in",
    "mapped loopback, hex": "http://[::ffff:7f00:1]/in",
    "compatible loopback": "http://[::127.0.0.1]/in",
    "6to4 of loopback": "http://[2002:7f00:1::1]/in",
    "6to4 of metadata": "http://[2002:a9fe:a9fe::1]/in",
    "teredo, client loopback": "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/in",
    "nat64 of loopback": "http://[64:ff9b::7f00:1]/in",
    "nat64 of metadata": "http://[64:ff9b::a9fe:a9fe]/in",
    "local-use nat64": "http://[64:ff9b:1::808:808]/in",
    "cgnat": "http://100.64.0.1/in",
    "cgnat metadata": "http://100.100.100.200/latest/meta-data",
    "link-local metadata": "http://169.254.169.254/latest",
    "site-local v6": "http://[fec0::1]/in",
    "unique local v6": "http://[fd00::1]/in",
    "documentation v4": "http://192.0.2.1/in",
    "documentation v4, 2": "http://198.51.100.7/in",
    "documentation v4, 3": "http://203.0.113.9/in",
    "documentation v6": "http://[2001:db8::1]/in",
    "documentation v6, 3fff": "http://[3fff::1]/in",
    "6to4 relay anycast": "http://192.88.99.1/in",
    "unspecified v4": "http://0.0.0.0/in",
    "unspecified v6": "http://[::]/in",
    "broadcast": "http://255.255.255.255/in",
    "reserved v4": "http://240.0.0.1/in",
    "multicast v4": "http://224.0.0.1/in",
    "multicast v4, ssdp": "http://239.255.255.250/in",
    "multicast v6": "http://[ff0e::1]/in",
    "decimal loopback": "http://2130706433/in",
    "octal loopback": "http://017700000001/in",
    "hex loopback": "http://0x7f000001/in",
    "short loopback": "http://127.1/in",
    "dotted hex loopback": "http://0x7f.1/in",
}
ALLOWED = {
    "v4": f"https://{PUBLIC}/in",
    "v6": "https://[2606:4700:4700::1111]/in",
    "mapped public": "https://[::ffff:8.8.8.8]/in",
    "nat64 of public": "https://[64:ff9b::808:808]/in",
    "6to4 of public": "https://[2002:808:808::1]/in",
}


def offline(host: str, port: int) -> list[str]:
    """The test's one name resolves to a public address; literals resolve as themselves, offline."""
    host = PUBLIC if host == PUBLIC_NAME else host
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return [str(info[4][0]) for info in infos]


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_a_target_that_is_not_globally_routable_is_refused(url: str) -> None:
    with pytest.raises(guard.UnsafeTargetError, match="TIMELINE_WEBHOOK_ALLOW_HOSTS"):
        guard.check_target(url, resolve=offline)


@pytest.mark.parametrize("url", ALLOWED.values(), ids=ALLOWED.keys())
def test_a_globally_routable_target_is_allowed(url: str) -> None:
    assert guard.check_target(url, resolve=offline) != []


def test_the_reason_names_the_wrapped_address() -> None:
    with pytest.raises(guard.UnsafeTargetError, match=r"wraps 127\.0\.0\.1"):
        guard.check_target("http://[2002:7f00:1::1]/in", resolve=offline)


def test_every_refused_form_is_422_at_creation_and_at_patch(client: TestClient, resolver: FakeResolver) -> None:
    resolver.fallback = offline
    # The plain `client` has no allow-list; the subscription to patch points at a public name.
    created = client.post("/v1/subscriptions", json={"url": f"https://{PUBLIC_NAME}/in"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    sub = created.json()
    for name, url in REFUSED.items():
        problem = assert_problem(client.post("/v1/subscriptions", json={"url": url}, headers=ADMIN), 422, "url")
        assert "TIMELINE_WEBHOOK_ALLOW_HOSTS" in problem["detail"], name
        assert_problem(client.patch(f"/v1/subscriptions/{sub['id']}", json={"url": url}, headers=ADMIN), 422, "url")
    listed = client.get("/v1/subscriptions", headers=ADMIN).json()["items"]
    assert [(s["id"], s["url"]) for s in listed] == [(sub["id"], sub["url"])]


@pytest.mark.parametrize("address", ["100.100.100.200", "2002:7f00:1::1", "64:ff9b::7f00:1", "::ffff:127.0.0.1"])
def test_a_name_that_starts_resolving_to_a_refused_address_is_not_called(
    hooks: TestClient, receiver: Receiver, resolver: FakeResolver, address: str
) -> None:
    # Allowed when created (127.0.0.1 is on the fixture's allow-list); every other form is not.
    resolver, endpoint, created = subscribe_by_name(hooks, receiver, resolver, "moved-" + address.replace(":", "-"))
    resolver.answers["receiver.test"] = [address]
    record(hooks, strike())

    items = wait_deliveries(hooks, created["id"], lambda items: items and items[0]["attempts"], what="an attempt")
    attempt = items[0]["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: ") and str(ipaddress.ip_address(address)) in attempt["error"], attempt
    assert endpoint.snapshot() == []


# --- the address a delivery connects to ------------------------------------------------------


def test_a_delivery_connects_to_the_address_that_was_checked(
    hooks: TestClient, receiver: Receiver, resolver: FakeResolver
) -> None:
    # `receiver.test` exists only in the guard's resolver: nothing else on this machine can
    # resolve it, so a delivery that arrives went to the address the guard checked, with the
    # subscription's own name in its Host header. A second lookup (DNS rebinding) has no say.
    resolver, endpoint, _ = subscribe_by_name(hooks, receiver, resolver, "pinned")
    record(hooks, strike())

    (request,) = endpoint.wait_count(1, TIMEOUT)
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert_verified([request])
    assert resolver.lookups.count("receiver.test") >= 2  # at creation, and again for the delivery


def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    hooks: TestClient, receiver: Receiver, resolver: FakeResolver
) -> None:
    resolver, endpoint, created = subscribe_by_name(hooks, receiver, resolver, "rebound")
    resolver.answers["receiver.test"] = ["10.0.0.7"]  # not on the allow-list
    record(hooks, strike())

    items = wait_deliveries(hooks, created["id"], lambda items: items and items[0]["attempts"], what="an attempt")
    assert items[0]["attempts"][0]["error"].startswith("refused: ")
    assert endpoint.snapshot() == []
