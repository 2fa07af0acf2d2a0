"""What an operator sees: /metrics, request ids, and the server's structured logs.

In process on both backends for the metrics and request ids; the logs are read from a real
``serve`` process, since what matters is what lands on its standard error.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bench.common.processes import run_service, service_env, serving, wait_until
from service.api.app import create_app
from service.bootstrap import Container
from tests.conftest import ADMIN, READ, WRITE
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
        counted = sum(value(samples, "timeline_webhook_attempts_total", outcome=o)
                      for o in ("delivered", "http_error", "timeout")) >= 5
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


# --- logs --------------------------------------------------------------------------------------


@pytest.fixture
def secret_tokens() -> Iterator[dict[str, str]]:
    yield {scope: f"{scope}-{secrets.token_urlsafe(18)}" for scope in ("read", "write", "admin")}


def test_server_logs_are_json_lines_with_request_ids_and_never_a_secret(
    database_url: str, tmp_path: Path, secret_tokens: dict[str, str]
) -> None:
    tokens = ",".join(f"{token}:{scope}" for scope, token in secret_tokens.items())
    headers = {scope: {"Authorization": f"Bearer {token}"} for scope, token in secret_tokens.items()}
    request_id = uuid.uuid4().hex
    with serving(database_url, tokens, tmp_path / "serve.log", timeout=30) as server:
        with httpx.Client(base_url=server.base_url, timeout=15) as http:
            created = http.post("/v1/events", json=statement("press-office"),
                                headers={**headers["write"], "X-Request-ID": request_id})
            assert created.status_code == 201, created.text
            assert http.get("/v1/events", headers=headers["read"]).status_code == 200
            assert http.get("/v1/events", headers={"Authorization": "Bearer wrong-guess-token"}).status_code == 401
            hook = http.post("/v1/subscriptions", json={"url": "https://hooks.example.org/x?key=url-secret-42"},
                             headers=headers["admin"])
            # The name cannot be resolved here: refused (4xx), but the URL still must not be logged.
            assert 400 <= hook.status_code < 500, hook.text
        assert server.stop(15) == 0
        output = server.output()

    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    answered = [r for r in records if r.get("request_id") == request_id]
    assert [(r["route"], r["status"], r["method"]) for r in answered if r["logger"] == "service.requests"] == [
        ("/v1/events", 201, "POST")
    ]
    requests = [r for r in records if r["logger"] == "service.requests"]
    assert len(requests) >= 4 and all(r["request_id"] and r["duration_ms"] >= 0 for r in requests)
    for secret in (*secret_tokens.values(), "wrong-guess-token", "url-secret-42"):
        assert secret not in output


# --- bad settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("TIMELINE_LOG_FORMAT", "xml", "'json' or 'text'"),
        ("TIMELINE_LOG_LEVEL", "loud", "'info'"),
        ("TIMELINE_API_TOKENS", "token-without-scope", "token:scope"),
        ("TIMELINE_DATABASE_URL", "mysql://db.example/timeline", "unsupported database 'mysql'"),
        ("TIMELINE_WEBHOOK_TIMEOUT", "-1", "greater than 0"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate", "worker"])
def test_a_bad_setting_stops_a_command_with_a_message_naming_it(
    tmp_path: Path, command: str, variable: str, value: str, says: str
) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'timeline.sqlite3'}", **{variable: value})
    code, output = run_service([command], env, tmp_path / f"{command}.log", timeout=30)
    assert code == 2, output
    assert f"invalid setting {variable}:" in output and says in output, output
    assert "Traceback" not in output
    assert not (tmp_path / "timeline.sqlite3").exists()  # nothing was started, nothing created


def test_an_unreachable_database_stops_migrate_with_a_message(tmp_path: Path) -> None:
    # Port 1 on loopback: refused at once, and the password must not be printed.
    env = service_env("postgresql+psycopg://timeline:hunter2@127.0.0.1:1/timeline")
    code, output = run_service(["migrate"], env, tmp_path / "migrate.log", timeout=60)
    assert code == 1, output
    assert "cannot use the database at postgresql+psycopg://timeline:***@127.0.0.1:1/timeline" in output
    assert "hunter2" not in output and "Traceback" not in output
