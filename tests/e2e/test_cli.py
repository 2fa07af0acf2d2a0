"""Commands as an operator runs them: the server's structured logs, and settings or a database that stop a command.

What matters is what lands on a real process's standard error.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common.processes import run_service, service_env, serving
from tests.support.facts import valid_fact

# --- logs ---------------------------------------------------------------------------------------


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
            created = http.post(
                "/v1/events",
                json=valid_fact(actors=[{"id": "press-office", "role": "speaker"}]),
                headers={**headers["write"], "X-Request-ID": request_id},
            )
            assert created.status_code == 201, created.text
            assert http.get("/v1/events", headers=headers["read"]).status_code == 200
            assert http.get("/v1/events", headers={"Authorization": "Bearer wrong-guess-token"}).status_code == 401
            hook = http.post(
                "/v1/subscriptions",
                json={"url": "https://hooks.example.org/x?key=url-secret-42"},
                headers=headers["admin"],
            )
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
