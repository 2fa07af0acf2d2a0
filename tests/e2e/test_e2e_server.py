"""The real server process: ``python -m service serve`` spoken to over HTTP, on both backends."""

from __future__ import annotations

import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common.processes import ServiceProcess, serving

pytestmark = pytest.mark.e2e

TOKENS = "w:write,r:read"
WRITE = {"Authorization": "Bearer w"}
READ = {"Authorization": "Bearer r"}
PROBLEM_JSON = "application/problem+json"
ADMIN_TOKEN = re.compile(r"Admin token for this run:\s*(\S+)")


def suspension(actor: str) -> dict[str, Any]:
    return {
        "type": "MissionSuspended",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-02-01",
        "reported_at": "2020-02-01T12:00:00Z",
        "summary": f"{actor} suspends its training mission",
        "actors": [{"id": actor, "role": "actor"}, {"id": "iraq", "role": "host"}],
        "mission": f"{actor}-training",
        "personnel": 42,
        "sources": [{"url": "https://example.org/suspension", "publisher": "Example News"}],
    }


def get(server: ServiceProcess, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", headers=headers, params=params, timeout=15.0)


def ready(server: ServiceProcess) -> dict[str, Any]:
    response = get(server, "/readyz", {})
    assert response.status_code == 200, response.text
    return response.json()


def test_serve_records_and_answers_over_http(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, TOKENS, tmp_path / "serve.log") as server:
        status = ready(server)
        assert status["migrations_current"] is True

        fact = suspension("alliance-x")
        created = httpx.post(f"{server.base_url}/v1/events", json=fact, headers=WRITE, timeout=15.0)
        assert created.status_code == 201, created.text
        stored = created.json()
        assert stored["event_id"] == fact["event_id"]
        assert isinstance(stored["position"], int) and stored["position"] > 0
        assert created.headers["location"] == f"/v1/events/{fact['event_id']}"

        # Read-your-writes through another process' eyes: the read token, min_position.
        timeline = get(server, "/v1/actors/alliance-x/timeline", READ, min_position=stored["position"])
        assert timeline.status_code == 200, timeline.text
        assert [item["event_id"] for item in timeline.json()["items"]] == [fact["event_id"]]

        state = get(server, "/v1/actors/alliance-x/state", READ, at="2020-02-02", min_position=stored["position"])
        assert state.status_code == 200, state.text
        body = state.json()
        assert body["actor"] == "alliance-x"
        assert body["missions"]["alliance-x-training"]["status"] == "suspended"
        assert body["missions"]["alliance-x-training"]["personnel"] == 42
        before = get(server, "/v1/actors/alliance-x/state", READ, at="2020-01-31").json()
        assert "alliance-x-training" not in before.get("missions", {})

        bad = httpx.post(
            f"{server.base_url}/v1/events",
            json={**suspension("alliance-x"), "occurred_at": "not a date", "personnel": -1},
            headers=WRITE,
            timeout=15.0,
        )
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith(PROBLEM_JSON)
        problem = bad.json()
        assert problem["status"] == 422
        assert {"occurred_at", "personnel"} <= {e["field"] for e in problem["errors"]}

        # The scopes hold: reading needs a token, writing needs the write scope.
        assert get(server, "/v1/actors/alliance-x/timeline", {}).status_code == 401
        forbidden = httpx.post(f"{server.base_url}/v1/events", json=suspension("y"), headers=READ, timeout=15.0)
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"].startswith(PROBLEM_JSON)
        assert ready(server)["position"] == stored["position"]


def admin_token(server: ServiceProcess, timeout: float = 10.0) -> str:
    """The token ``serve --demo`` prints (stdout and stderr both go to the server's log)."""
    deadline = time.monotonic() + timeout
    while True:
        found = ADMIN_TOKEN.search(server.output())
        if found:
            return found.group(1)
        if time.monotonic() >= deadline:
            raise AssertionError(f"no admin token printed:\n{server.output()}")
        time.sleep(0.05)


def changes_count(server: ServiceProcess, headers: dict[str, str], position: int) -> int:
    response = get(server, "/v1/changes", headers, limit=1000, min_position=position)
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def test_serve_demo_prints_a_token_and_answers_and_a_restart_records_nothing_new(
    database_url: str, tmp_path: Path
) -> None:
    with serving(database_url, TOKENS, tmp_path / "demo-1.log", "--demo") as server:
        token = admin_token(server)
        admin = {"Authorization": f"Bearer {token}"}
        head = ready(server)["position"]
        assert head > 0
        state = get(server, "/v1/actors/nato/state", admin, at="2020-01-05", min_position=head)
        assert state.status_code == 200, state.text
        assert state.json()["missions"]["nato-mission-iraq"]["status"] == "suspended"
        count = changes_count(server, admin, head)
        assert count > 0
        assert "new facts" in server.output()
        assert server.stop(15) is not None, server.output()

    with serving(database_url, TOKENS, tmp_path / "demo-2.log", "--demo") as again:
        second_token = admin_token(again)
        assert second_token != token
        admin = {"Authorization": f"Bearer {second_token}"}
        assert ready(again)["position"] == head
        assert changes_count(again, admin, head) == count
        assert "(0 new facts)" in again.output(), again.output()
        # The token is for that run only.
        assert get(again, "/v1/changes", {"Authorization": f"Bearer {token}"}).status_code == 401
        still = get(again, "/v1/actors/nato/state", admin, at="2020-01-05", min_position=head)
        assert still.json()["missions"]["nato-mission-iraq"]["status"] == "suspended"


def record_one(server: ServiceProcess, actor: str) -> tuple[dict[str, Any], int]:
    fact = suspension(actor)
    created = httpx.post(f"{server.base_url}/v1/events", json=fact, headers=WRITE, timeout=15.0)
    assert created.status_code == 201, created.text
    position = created.json()["position"]
    assert get(server, f"/v1/events/{fact['event_id']}", READ, min_position=position).status_code == 200
    return fact, position


def test_sigterm_stops_the_server_within_15_seconds_with_exit_code_0(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, TOKENS, tmp_path / "serve.log") as server:
        record_one(server, "alliance-t")
        started = time.monotonic()
        server.signal(signal.SIGTERM)
        code = server.wait(15)
        took = time.monotonic() - started
        assert code is not None, f"still running 15 s after SIGTERM:\n{server.output()}"
        assert code == 0, f"exit code {code} after SIGTERM ({took:.1f}s):\n{server.output()}"


def test_the_data_survives_a_sigterm_and_a_restart(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, TOKENS, tmp_path / "first.log") as server:
        fact, position = record_one(server, "alliance-z")
        server.signal(signal.SIGTERM)
        assert server.wait(15) is not None, f"still running 15 s after SIGTERM:\n{server.output()}"

    with serving(database_url, TOKENS, tmp_path / "second.log") as again:
        assert ready(again)["position"] == position
        found = get(again, f"/v1/events/{fact['event_id']}", READ, min_position=position)
        assert found.status_code == 200, found.text
        assert found.json()["event_id"] == fact["event_id"]
        timeline = get(again, "/v1/actors/alliance-z/timeline", READ, min_position=position)
        assert [item["event_id"] for item in timeline.json()["items"]] == [fact["event_id"]]
        # Recording it again is a no-op that says so.
        repeat = httpx.post(f"{again.base_url}/v1/events", json=fact, headers=WRITE, timeout=15.0)
        assert repeat.status_code == 200, repeat.text
        assert repeat.json()["position"] == position
