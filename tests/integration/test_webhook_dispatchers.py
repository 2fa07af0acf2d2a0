"""Two dispatchers on one outbox (PostgreSQL): every message sent once, and retried once per failure.

The receiver (tests/support/webhook_receiver.py) records every request and verifies every signature with
``standardwebhooks``; the tests assert on what it saw and verified. The retry schedule is scaled
down to 0.2 s and every wait is bounded by a deadline.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support.subscriptions import all_delivered, strike, subscribe, wait_deliveries
from tests.support.tokens import WRITE
from tests.support.webhook_receiver import Received, Receiver, Reply

# --- two dispatchers on one outbox (PostgreSQL) ----------------------------------------


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
            response = hooks.post(
                "/v1/events/batch", json={"events": [strike(f"a-{chunk}-{i}") for i in range(50)]}, headers=WRITE
            )
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
        response = hooks.post(
            "/v1/events/batch", json={"events": [strike(f"r-{i}") for i in range(100)]}, headers=WRITE
        )
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
