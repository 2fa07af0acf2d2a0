"""What an operator sees in process, on both backends: /metrics and request ids.

The server's structured logs are read from a real ``serve`` process (tests/e2e/test_cli.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bench.common.processes import wait_until
from service.api.app import create_app
from service.bootstrap import Container
from tests.support.tokens import ADMIN, READ, WRITE
from tests.support.webhook_receiver import Receiver, Reply


def statement(speaker: str) -> dict[str, Any]:
    return {
        "type": "StatementIssued",
        "occurred_at": "2020-01-06",
        "summary": f"{speaker} speaks",
        "actors": [{"id": speaker, "role": "speaker"}],
        "text": "a statement",
    }


def scrape(client: TestClient | httpx.Client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics as {sample name: {sorted labels: value}}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_and_time_appends(client: TestClient, container: Container) -> None:
    for speaker in ("minister-a", "minister-b"):
        assert client.post("/v1/events", json=statement(speaker), headers=WRITE).status_code == 201
    head = container.store.max_position()
    for speaker in ("minister-a", "minister-b"):
        response = client.get(f"/v1/actors/{speaker}/timeline", params={"min_position": head}, headers=READ)
        assert response.status_code == 200, response.text
    assert client.get("/no/such/page").status_code == 404

    samples = scrape(client)
    timeline = "/v1/actors/{actor_id}/timeline"
    assert value(samples, "timeline_http_requests_total", method="GET", route=timeline, status="200") == 2
    assert value(samples, "timeline_http_requests_total", method="POST", route="/v1/events", status="201") == 2
    assert value(samples, "timeline_http_requests_total", method="GET", route="unmatched", status="404") == 1
    routes = {dict(labels)["route"] for labels in samples["timeline_http_requests_total"]}
    assert not any("minister" in route for route in routes), routes  # templates, never raw paths
    assert value(samples, "timeline_http_request_duration_seconds_count", method="GET", route=timeline) == 2
    assert value(samples, "timeline_append_duration_seconds_count") == 2
    assert value(samples, "timeline_appended_events_total") == 2
    assert value(samples, "timeline_database_up") == 1
    assert value(samples, "timeline_store_position") == head


def test_metrics_show_projection_lag_until_the_workers_catch_up(container: Container) -> None:
    # No workers run here: the lag stays until the projections are driven by hand.
    with TestClient(create_app(container, run_workers=False)) as client:
        for speaker in ("envoy-1", "envoy-2", "envoy-3"):
            assert client.post("/v1/events", json=statement(speaker), headers=WRITE).status_code == 201
        behind = scrape(client)
        assert value(behind, "timeline_projection_lag", projection="read_models") == 3
        assert value(behind, "timeline_projection_lag", projection="webhooks") == 3
        assert client.get("/readyz").json()["projection_lag"] == {"read_models": 3, "webhooks": 3}
        for worker in container.projections:
            worker.catch_up()
        caught_up = scrape(client)
        assert value(caught_up, "timeline_projection_lag", projection="read_models") == 0
        assert value(caught_up, "timeline_projection_position", projection="webhooks") == 3


def test_metrics_count_webhook_deliveries_by_outcome(hooks: TestClient, receiver: Receiver) -> None:
    good, bad = receiver.endpoint("good"), receiver.endpoint("bad", default=Reply(500))
    for endpoint in (good, bad):
        response = hooks.post("/v1/subscriptions", json={"url": endpoint.url}, headers=ADMIN)
        assert response.status_code == 201, response.text
    assert hooks.post("/v1/events", json=statement("spokesman"), headers=WRITE).status_code == 201

    def settled() -> dict[str, Any] | None:
        samples = scrape(hooks)
        # The failing one: first attempt and three retries (0.2 s apart), then failed. An
        # attempt is counted just after its outcome commits, so both are waited for.
        failed = value(samples, "timeline_webhook_messages", status="failed") == 1
        counted = (
            sum(
                value(samples, "timeline_webhook_attempts_total", outcome=o)
                for o in ("delivered", "http_error", "timeout")
            )
            >= 5
        )
        return samples if failed and counted else None

    samples = wait_until(settled, timeout=15, interval=0.1, what="the failing delivery exhausted")
    assert value(samples, "timeline_webhook_messages", status="delivered") == 1
    assert value(samples, "timeline_webhook_messages", status="pending") == 0
    assert value(samples, "timeline_webhook_attempts_total", outcome="delivered") == 1
    assert value(samples, "timeline_webhook_attempts_total", outcome="http_error") == 4
    assert len(good.snapshot()) == 1 and len(bad.snapshot()) == 4


# --- request ids ----------------------------------------------------------------------------


def test_every_answer_carries_a_request_id_and_a_valid_one_is_kept(client: TestClient) -> None:
    fresh = client.get("/v1/events", headers=READ)
    generated = fresh.headers["x-request-id"]
    assert uuid.UUID(generated)
    assert client.get("/v1/events", headers=READ).headers["x-request-id"] != generated

    given = uuid.uuid4().hex
    assert client.get("/v1/events", headers={**READ, "X-Request-ID": given}).headers["x-request-id"] == given
    # Refusals carry one too: a 401 problem, and a 413 refused before any route runs.
    refused = client.post("/v1/events", json=statement("x"), headers={"X-Request-ID": given})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == given
    too_big = client.post("/v1/events", content=b"{" + b" " * 70_000 + b"}", headers=WRITE)
    assert too_big.status_code == 413 and uuid.UUID(too_big.headers["x-request-id"])


@pytest.mark.parametrize("forged", ["not-an-id", "x" * 200, "0123"])
def test_a_request_id_that_is_not_an_id_is_replaced(client: TestClient, forged: str) -> None:
    kept = client.get("/v1/events", headers={**READ, "X-Request-ID": forged}).headers["x-request-id"]
    assert kept != forged and uuid.UUID(kept)
