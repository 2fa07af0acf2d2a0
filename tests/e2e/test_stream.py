"""The live stream over a real server: Server-Sent Events with resume."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common.processes import serving

pytestmark = pytest.mark.e2e

WRITE = {"Authorization": "Bearer w"}
READ = {"Authorization": "Bearer r"}


def statement(n: int) -> dict:
    return {
        "type": "StatementIssued",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-06",
        "summary": f"statement {n}",
        "text": "text",
        "actors": [{"id": "mark-esper", "role": "speaker"}],
    }


def read_events(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next ``count`` events of an open stream, as {id, event, data} fields."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        if not line:
            if "id" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
            continue
        name, _, value = line.partition(":")
        current[name] = value.strip()
    return events


def test_stream_sends_history_then_live_changes_and_resumes(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, "w:write,r:read", tmp_path / "serve.log") as server:
        base = server.base_url
        first = [httpx.post(f"{base}/v1/events", json=statement(n), headers=WRITE).json() for n in range(3)]
        with httpx.stream("GET", f"{base}/v1/stream", params={"after": 0}, headers=READ, timeout=10) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            history = read_events(lines, 3)
            live = httpx.post(f"{base}/v1/events", json=statement(3), headers=WRITE).json()
            (pushed,) = read_events(lines, 1)
        assert [int(e["id"]) for e in history] == [f["position"] for f in first]
        assert {e["event"] for e in history} == {"recorded"}
        assert int(pushed["id"]) == live["position"]
        assert httpx.Response(200, content=pushed["data"]).json()["event"]["summary"] == "statement 3"

        resume = {**READ, "Last-Event-ID": str(first[1]["position"])}
        with httpx.stream("GET", f"{base}/v1/stream", headers=resume, timeout=10) as stream:
            resumed = read_events(stream.iter_lines(), 2)
        assert [int(e["id"]) for e in resumed] == [first[2]["position"], live["position"]]

        refused = httpx.get(f"{base}/v1/stream", headers={**READ, "Last-Event-ID": "abc"})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
