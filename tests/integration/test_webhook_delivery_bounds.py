"""A delivery attempt is bounded in time and memory, and a slow subscriber delays only itself.

Subscribers here misbehave on purpose (tests/support/webhook_receiver.py): one answers with a
100 MB body, others answer a byte at a time, in the body or in the headers, so that no
single read ever waits as long as the timeout. The dispatcher runs with a short timeout
and few delivery slots, so that every test stays within a few seconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support.apps import built, serving_app
from tests.support.subscriptions import strike, subscribe, wait_deliveries
from tests.support.tokens import ADMIN
from tests.support.webhook_receiver import Received, Receiver, Reply
from tests.support.writes import record

ATTEMPT_TIMEOUT = 1.0  # TIMELINE_WEBHOOK_TIMEOUT here: the bound of one whole attempt
SLOTS = 4  # TIMELINE_WEBHOOK_CONCURRENCY here
SLACK = 1.5  # seconds a loaded machine may add to an attempt's bound
TRICKLE = Reply(200, trickle=0.02, trickle_for=30.0)  # 50 bytes/s for 30 s: each read is quick


@pytest.fixture
def bounded_settings(hook_settings: Settings) -> Settings:
    return hook_settings.model_copy(
        update={
            "webhook_timeout": ATTEMPT_TIMEOUT,
            "webhook_concurrency": SLOTS,
            "webhook_retry_schedule": ",".join(["0.2"] * 20),
        }
    )


@pytest.fixture
def bounded_container(bounded_settings: Settings, receiver: Receiver) -> Iterator[Container]:
    yield from built(bounded_settings)


@pytest.fixture
def api(bounded_container: Container) -> Iterator[TestClient]:
    yield from serving_app(bounded_container)


def by_id(requests: list[Received]) -> dict[str, list[Received]]:
    grouped: dict[str, list[Received]] = defaultdict(list)
    for request in requests:
        grouped[request.webhook_id].append(request)
    return grouped


def test_a_huge_reply_is_not_read_beyond_the_excerpt(api: TestClient, receiver: Receiver) -> None:
    endpoint = receiver.endpoint("flood")
    endpoint.script(Reply(500, flood=100 * 2**20))
    sub = subscribe(api, endpoint)
    record(api, strike())
    items = wait_deliveries(api, sub["id"], lambda items: items and items[0]["attempts"], what="an attempt")
    error = items[0]["attempts"][0]["error"]
    assert error.startswith("HTTP 500: xxx") and len(error) <= len("HTTP 500: ") + 300, error
    flooded = endpoint.wait_for(lambda rs: rs[0].finished and rs[0], 10, "the flood to end")
    # Whatever was written past what the sockets' buffers hold was never read.
    assert flooded.sent < 16 * 2**20, f"the subscriber could write {flooded.sent} bytes"
    wait_deliveries(api, sub["id"], lambda items: items[0]["status"] == "delivered", what="the retry")


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_subscriber_is_cut_off_at_the_timeout_and_retried(
    api: TestClient, receiver: Receiver, where: str
) -> None:
    endpoint = receiver.endpoint(f"trickle-{where}")
    endpoint.script(Reply(200, trickle=0.02, trickle_for=30.0, trickle_headers=where == "headers"))
    sub = subscribe(api, endpoint)
    record(api, strike())
    items = wait_deliveries(
        api,
        sub["id"],
        lambda items: items and items[0]["status"] == "delivered",
        timeout=ATTEMPT_TIMEOUT + 2 * SLACK + 1,
        what="delivered by the retry",
    )
    # On a loaded machine a retry can time out too; every attempt before the delivery did.
    first, *between, retry = items[0]["attempts"]
    assert first["status_code"] is None and "timed out" in first["error"], first
    assert all(a["status_code"] is None and "timed out" in a["error"] for a in between), between
    assert ATTEMPT_TIMEOUT * 1000 * 0.9 <= first["latency_ms"] <= (ATTEMPT_TIMEOUT + SLACK) * 1000, first
    assert retry["status_code"] == 200
    cut = endpoint.snapshot()[0]
    assert cut.finished is not None and cut.finished - cut.arrived <= ATTEMPT_TIMEOUT + SLACK


def test_more_slow_subscribers_than_slots_do_not_hold_up_a_healthy_one(api: TestClient, receiver: Receiver) -> None:
    slow = [receiver.endpoint(f"slow-{i}", default=TRICKLE) for i in range(SLOTS + 2)]
    for endpoint in slow:
        subscribe(api, endpoint)
    healthy = receiver.endpoint("healthy")
    subscribe(api, healthy)

    def wait_at_healthy(fact: dict[str, Any]) -> float:
        recorded = time.monotonic()
        arrived = healthy.wait_for(
            lambda rs: next((r for r in rs if r.event_id == fact["event_id"]), None),
            10,
            f"{fact['summary']} at the healthy subscriber",
        )
        return float(arrived.arrived - recorded)

    # Until each slow subscriber's first attempt has been cut off, nothing tells it from a
    # healthy one: the first fact can wait for a slot-full of them, at most twice here.
    first = wait_at_healthy(record(api, strike("first")))
    assert first <= 2 * ATTEMPT_TIMEOUT + SLACK, first
    for endpoint in slow:
        endpoint.wait_for(lambda rs: rs and rs[0].finished, 2 * ATTEMPT_TIMEOUT + SLACK + 5, "a cut-off attempt")
    # From then on they are failing, and a slot is always left for subscribers that answer.
    later = [wait_at_healthy(record(api, strike(f"later-{i}"))) for i in range(4)]
    assert max(later) <= 0.75, later
    for endpoint in slow:  # and the slow ones are still retried, sharing the other slots
        endpoint.wait_count(2, 3 * (ATTEMPT_TIMEOUT + SLACK) + 5)


def test_two_dispatchers_never_overlap_attempts_of_a_slow_subscriber(
    api: TestClient, bounded_settings: Settings, receiver: Receiver
) -> None:
    second = bootstrap(bounded_settings, apply_migrations=False)
    try:
        second.start_workers()
        endpoint = receiver.endpoint("slow-pair", default=Reply(200, trickle=0.02, trickle_for=15.0))
        sub = subscribe(api, endpoint)
        record(api, strike())
        # Three attempts take about three timeouts; a lease that ran out during the first
        # (15 s long if it were not cut off) would let the other dispatcher start a second.
        endpoint.wait_for(lambda rs: len(rs) >= 3, 3 * (ATTEMPT_TIMEOUT + SLACK) + 20, "three attempts")
        assert api.patch(f"/v1/subscriptions/{sub['id']}", json={"status": "paused"}, headers=ADMIN).status_code == 200
        requests = endpoint.wait_for(lambda rs: all(r.finished for r in rs) and rs, 10, "the attempts to end")
        attempts = _recorded_attempts(api, sub["id"], len(requests))
        for same in by_id(requests).values():
            for earlier, later in zip(same, same[1:], strict=False):
                assert earlier.finished is not None
                assert later.arrived >= earlier.finished, "an attempt started while the previous one still ran"
        assert len(attempts) == len(requests), (attempts, [(r.arrived, r.finished) for r in requests])
    finally:
        second.close()


def _recorded_attempts(api: TestClient, subscription_id: str, at_least: int) -> list[dict[str, Any]]:
    """The attempts recorded for the subscription's only message, once ``at_least`` are."""
    items = wait_deliveries(
        api,
        subscription_id,
        lambda items: items and len(items[0]["attempts"]) >= at_least,
        timeout=10,
        what=f"{at_least} attempts recorded",
    )
    return list(items[0]["attempts"])
