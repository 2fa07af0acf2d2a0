"""A real server killed mid-delivery loses no webhook: the restarted one delivers the rest.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common.processes import (
    ServiceProcess,
    free_port,
    service_env,
    start_service,
    wait_healthy,
    wait_until,
)
from tests.support.subscriptions import TIMEOUT, assert_verified, strike
from tests.support.webhook_receiver import Receiver, Reply

# --- crash safety: the real server killed mid-delivery --------------------------------

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
        created = httpx.post(
            f"{server.base_url}/v1/subscriptions", json={"url": endpoint.url}, headers=CRASH_ADMIN, timeout=15
        )
        assert created.status_code == 201, created.text
        sub = created.json()
        endpoint.add_secret(sub["secret"])
        facts = []
        for i in range(5):
            posted = httpx.post(
                f"{server.base_url}/v1/events", json=strike(f"actor-{i}"), headers=CRASH_WRITE, timeout=15
            )
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
            page = httpx.get(
                f"{restarted.base_url}/v1/subscriptions/{sub['id']}/deliveries", headers=CRASH_ADMIN, timeout=15
            )
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
