"""Crash safety of the real server: killed (SIGKILL) or stopped (SIGTERM) under concurrent writers.

Eight clients record facts over HTTP (single facts and batches of ten, with event_ids
of their choosing) while the server is killed mid-stream. After a restart on the same
database:

* every fact the server acknowledged (200/201) is in the log at the position it answered;
* nothing is in the log that no client sent, and a batch is in it whole or not at all;
* the read models hold each stored fact exactly once, and equal a rebuild from the log;
* sending every acknowledged fact again answers 200 and records nothing.

Requests in flight at the kill were never answered: their facts may or may not be stored.
Every test runs on SQLite and on PostgreSQL; the numbers are printed (``pytest -s``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.common.processes import ServiceProcess, run_service, service_env, serving
from service.bootstrap import bootstrap
from service.settings import Settings
from tests.support.acknowledged import (
    CLIENTS,
    REQUEST_TIMEOUT,
    TOKENS,
    WRITE,
    Attempt,
    Tally,
    Writers,
    assert_same_rows,
    caught_up,
    run_writers,
    snapshot,
    stored_log,
    verify,
)

pytestmark = pytest.mark.e2e


def phases(tally: Tally, moment: float) -> dict[str, list[Attempt]]:
    """The requests done before ``moment``, in flight at it, and started after it."""
    return {
        "done before": [a for a in tally.attempts if a.ended < moment],
        "in flight at": [a for a in tally.attempts if a.started < moment <= a.ended],
        "started after": [a for a in tally.attempts if a.started >= moment],
    }


def print_phases(label: str, tally: Tally, moment: float, stored: dict[str, int]) -> None:
    for name, group in phases(tally, moment).items():
        answered = Counter(a.status for a in group if a.status is not None)
        unanswered = [a for a in group if a.status is None]
        kept = sum(eid in stored for a in unanswered for eid in a.event_ids)
        print(
            f"[{label}] {name} the signal: {len(group)} requests, answered {dict(answered)}, "
            f"unanswered {dict(tally.errors(unanswered))} "
            f"({sum(len(a.facts) for a in unanswered)} facts, {kept} of them stored)"
        )


def post_all(server: ServiceProcess, jobs: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """POST each (path, body) with CLIENTS connections; every answer, in order."""
    local = threading.local()

    def send(job: tuple[str, dict[str, Any]]) -> httpx.Response:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=server.base_url, headers=WRITE, timeout=REQUEST_TIMEOUT)
            clients.append(local.client)
        return local.client.post(job[0], json=job[1])

    clients: list[httpx.Client] = []
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(send, jobs))
    finally:
        for client in clients:
            client.close()


# --- SIGKILL ---------------------------------------------------------------------------------


def test_sigkill_under_concurrent_writers_loses_and_doubles_nothing(
    database_url: str, settings: Settings, tmp_path: Path
) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    killed: dict[str, Any] = {}

    def kill(writers: Writers) -> None:
        killed["in_flight"] = writers.in_flight
        killed["at"] = time.monotonic()
        server.process.send_signal(signal.SIGKILL)
        killed["code"] = server.wait(10)

    with serving(database_url, TOKENS, tmp_path / "killed.log") as server:
        tally = run_writers(server, kill)
    assert killed["code"] == -signal.SIGKILL, server.output()
    tally.assert_answers_whole()
    assert not tally.refusals(), [(a.status, a.error) for a in tally.refusals()[:5]]
    print(f"\n[{backend} SIGKILL] requests in flight at the kill: {killed['in_flight']}")

    with serving(database_url, TOKENS, tmp_path / "restarted.log") as again:
        container = bootstrap(settings, apply_migrations=False)
        try:
            numbers, stored = verify(again, container, tally, f"{backend} SIGKILL")
            print_phases(f"{backend} SIGKILL", tally, killed["at"], stored)
            # What never reached the server (connection refused) cannot be stored.
            refused = [a for a in tally.unacknowledged if (a.error or "").startswith("ConnectError")]
            assert not any(eid in stored for a in refused for eid in a.event_ids)
            assert numbers["acknowledged_facts"] > 0
            before = snapshot(container.engine)
            head = container.store.max_position()

            # 4. Every acknowledged fact again, alone: 200 and its first position.
            acknowledged = tally.acknowledged
            bodies = tally.bodies
            answers = post_all(again, [("/v1/events", bodies[eid]) for eid in acknowledged])
            wrong = [(r.status_code, r.text[:200]) for r in answers if r.status_code != 200]
            assert not wrong, f"{len(wrong)} repeats not answered 200, e.g. {wrong[:3]}"
            assert {r.json()["event_id"]: r.json()["position"] for r in answers} == acknowledged
            # Every acknowledged batch again, as a batch: the same positions.
            batches = [a for a in tally.attempts if a.acknowledged and a.kind == "batch"]
            answers = post_all(again, [("/v1/events/batch", {"events": a.facts}) for a in batches])
            statuses = Counter(r.status_code for r in answers)
            assert set(statuses) <= {200, 201}, [r.text[:200] for r in answers if r.status_code not in (200, 201)]
            for attempt, answer in zip(batches, answers, strict=True):
                assert {i["event_id"]: i["position"] for i in answer.json()["items"]} == attempt.positions
            print(
                f"[{backend} SIGKILL] repeated {len(acknowledged)} facts (200 each) and "
                f"{len(batches)} batches (statuses {dict(statuses)})"
            )
            # ...and nothing new was recorded, in the log or in the read models.
            assert container.store.max_position() == head
            assert caught_up(again)["position"] == head
            assert stored_log(container)[1] == numbers["stored_facts"]
            assert_same_rows(before, snapshot(container.engine))

            # 3. The read models equal a rebuild from the log (server stopped first).
            assert again.stop(15) == 0, again.output()
            code, output = run_service(
                ["rebuild-projections"], service_env(database_url), tmp_path / "rebuild.log", timeout=60
            )
            assert code == 0, output
            assert_same_rows(before, snapshot(container.engine))
        finally:
            container.close()


# --- SIGTERM ----------------------------------------------------------------------------------


def test_sigterm_under_concurrent_writers_drains_exits_0_and_keeps_every_acknowledged_fact(
    database_url: str, settings: Settings, tmp_path: Path
) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    stopped: dict[str, Any] = {}

    def terminate(writers: Writers) -> None:
        stopped["in_flight"] = writers.in_flight
        stopped["signalled"] = time.monotonic()
        server.signal(signal.SIGTERM)
        stopped["code"] = server.wait(15)
        stopped["took"] = time.monotonic() - stopped["signalled"]

    with serving(database_url, TOKENS, tmp_path / "terminated.log") as server:
        tally = run_writers(server, terminate)
    assert stopped["code"] is not None, f"still running 15 s after SIGTERM:\n{server.output()}"
    assert stopped["code"] == 0, f"exit code {stopped['code']} after SIGTERM:\n{server.output()}"

    signalled = stopped["signalled"]
    before, across, _after = phases(tally, signalled).values()
    label = f"{backend} SIGTERM"
    print(
        f"\n[{label}] exit code {stopped['code']} {stopped['took']:.2f}s after the signal; "
        f"{stopped['in_flight']} requests in flight at the signal"
    )
    # Every answer that came was whole (it parsed) and was a success: nothing half-done.
    tally.assert_answers_whole()
    assert not tally.refusals(), [(a.status, a.error) for a in tally.refusals()[:5]]
    # Before the signal, the server answered everything it was sent.
    assert all(a.acknowledged for a in before), tally.errors(before)
    # A request sent well before the signal had surely reached the server: it must be answered.
    # (One sent at the very moment of the signal can meet an idle keep-alive connection being
    # closed; no server can promise an answer to that.)
    cut_off = [a for a in across if a.started < signalled - 0.25 and not a.acknowledged]
    assert not cut_off, [(a.kind, round(signalled - a.started, 3), a.error) for a in cut_off]

    with serving(database_url, TOKENS, tmp_path / "restarted.log") as again:
        container = bootstrap(settings, apply_migrations=False)
        try:
            numbers, stored = verify(again, container, tally, label)
            print_phases(label, tally, signalled, stored)
            assert numbers["acknowledged_facts"] > 0
        finally:
            container.close()
