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
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from service.bootstrap import Container, bootstrap
from service.readmodels.tables import (
    actors,
    fact_actors,
    fact_revisions,
    fact_versions,
    projection_positions,
)
from service.settings import Settings
from tests.processes import ServiceProcess, run_service, service_env, serving, wait_until

pytestmark = pytest.mark.e2e

TOKENS = "w:write,r:read"
WRITE = {"Authorization": "Bearer w"}
READ = {"Authorization": "Bearer r"}
CLIENTS = 8
BATCH = 10
BATCH_EVERY = 4  # every fourth request of a client is a batch of BATCH facts
LOAD_SECONDS = 2.5
REQUEST_TIMEOUT = 10.0
SNAPSHOT_TABLES = (fact_revisions, fact_versions, fact_actors, actors)


# --- the facts the clients send ---------------------------------------------------------


def statement(client: int, index: int) -> dict[str, Any]:
    """A StatementIssued naming two or three distinct actors, with a client-chosen event_id."""
    named = [
        {"id": f"speaker-{client}", "role": "speaker"},
        {"id": f"subject-{index % 13}", "role": "subject"},
    ]
    if index % 3 == 0:
        named.append({"id": f"addressee-{index % 5}", "role": "addressee"})
    return {
        "type": "StatementIssued",
        "event_id": str(uuid.uuid4()),
        "occurred_at": f"2020-01-{1 + index % 28:02d}T{index % 24:02d}:{client:02d}:00Z",
        "reported_at": f"2020-02-{1 + index % 28:02d}T12:00:00Z",
        "summary": f"client {client} statement {index}",
        "actors": named,
        "text": f"text of statement {index} by client {client}",
        "sources": [{"url": f"https://example.org/{client}/{index}", "publisher": "Example News"}],
    }


def actor_ids(body: dict[str, Any]) -> set[str]:
    return {ref["id"] for ref in body["actors"]}


# --- concurrent writers ------------------------------------------------------------------


@dataclass
class Attempt:
    """One POST: what it sent, when, and what (if anything) came back."""

    kind: str  # "single" or "batch"
    facts: list[dict[str, Any]]
    started: float
    ended: float = 0.0
    status: int | None = None
    positions: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the transport error, when no answer came

    @property
    def acknowledged(self) -> bool:
        return self.status in (200, 201)

    @property
    def event_ids(self) -> list[str]:
        return [fact["event_id"] for fact in self.facts]


class Writers:
    """CLIENTS threads, each with its own keep-alive connection, POSTing until stopped."""

    def __init__(self, base_url: str, clients: int = CLIENTS):
        self.base_url = base_url
        self.clients = clients
        self.attempts: list[Attempt] = []
        self.in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), name=f"writer-{i}", daemon=True) for i in range(clients)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = REQUEST_TIMEOUT + 5) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        assert not any(t.is_alive() for t in self._threads), "a writer thread did not stop"

    def acknowledged_count(self) -> int:
        with self._lock:
            return sum(len(a.facts) for a in self.attempts if a.acknowledged)

    def _run(self, client_index: int) -> None:
        index = 0
        sent = 0
        with httpx.Client(base_url=self.base_url, headers=WRITE, timeout=REQUEST_TIMEOUT) as client:
            while not self._stop.is_set():
                sent += 1
                if sent % BATCH_EVERY == 0:
                    facts = [statement(client_index, index + k) for k in range(BATCH)]
                    attempt = Attempt("batch", facts, time.monotonic())
                else:
                    facts = [statement(client_index, index)]
                    attempt = Attempt("single", facts, time.monotonic())
                index += len(facts)
                with self._lock:
                    self.in_flight += 1
                try:
                    self._send(client, attempt)
                finally:
                    attempt.ended = time.monotonic()
                    with self._lock:
                        self.in_flight -= 1
                        self.attempts.append(attempt)
                if isinstance(attempt.error, str) and attempt.error.startswith("ConnectError"):
                    self._stop.wait(0.05)  # nobody listening (any more): do not spin

    @staticmethod
    def _send(client: httpx.Client, attempt: Attempt) -> None:
        try:
            if attempt.kind == "single":
                response = client.post("/v1/events", json=attempt.facts[0])
            else:
                response = client.post("/v1/events/batch", json={"events": attempt.facts})
        except httpx.HTTPError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
            return
        attempt.status = response.status_code
        try:
            body = response.json()  # an answer that arrived is whole: it parses
        except ValueError as exc:
            attempt.error = f"incomplete body ({exc}): {response.text[:200]!r}"
            return
        if attempt.acknowledged:
            items = [body] if attempt.kind == "single" else body["items"]
            attempt.positions = {item["event_id"]: item["position"] for item in items}
            if sorted(attempt.positions) != sorted(attempt.event_ids):
                attempt.error = f"the answer names other facts than were sent: {body!r:.200}"


@dataclass
class Tally:
    """What the clients saw."""

    attempts: list[Attempt]

    @property
    def acknowledged(self) -> dict[str, int]:
        """event_id -> the position the server answered."""
        return {eid: pos for a in self.attempts if a.acknowledged for eid, pos in a.positions.items()}

    @property
    def bodies(self) -> dict[str, dict[str, Any]]:
        """Every fact any client sent, answered or not."""
        return {fact["event_id"]: fact for a in self.attempts for fact in a.facts}

    @property
    def unacknowledged(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.acknowledged]

    def assert_answers_whole(self) -> None:
        """Every answer that came was complete (it parsed) and named the facts sent."""
        broken = [(a.kind, a.status, a.error) for a in self.attempts if a.status is not None and a.error]
        assert not broken, f"answers cut short or wrong: {broken[:5]}"

    def refusals(self) -> list[Attempt]:
        """Answers other than 200/201: a crash test should see none."""
        return [a for a in self.attempts if a.status is not None and not a.acknowledged]

    def errors(self, attempts: Iterable[Attempt] | None = None) -> Counter[str]:
        return Counter(
            (a.error or "").split(":")[0] or f"HTTP {a.status}"
            for a in (self.attempts if attempts is None else attempts)
            if not a.acknowledged
        )


def run_writers(server: ServiceProcess, then: Callable[[Writers], None]) -> Tally:
    """Writers against ``server`` until flowing, LOAD_SECONDS more, then ``then(writers)``; stopped."""
    writers = Writers(server.base_url)
    writers.start()
    try:
        wait_until(lambda: writers.acknowledged_count() >= 20 or not server.alive(), timeout=15,
                   what="the writers' first acknowledgements")
        assert server.alive(), server.output()
        time.sleep(LOAD_SECONDS)
        then(writers)
    finally:
        writers.stop()
    return Tally(list(writers.attempts))


# --- what is stored, what the read models hold -----------------------------------------


def get(server: ServiceProcess, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", headers=headers or {}, params=params, timeout=REQUEST_TIMEOUT)


def caught_up(server: ServiceProcess, timeout: float = 20.0) -> dict[str, Any]:
    """/readyz once the read models have no lag."""

    def check() -> dict[str, Any] | None:
        response = get(server, "/readyz")
        assert response.status_code == 200, response.text
        body = response.json()
        return body if body["projection_lag"]["read_models"] == 0 else None

    return wait_until(check, timeout=timeout, interval=0.05, what="/readyz projection_lag read_models == 0")


def stored_log(container: Container) -> tuple[dict[str, int], int]:
    """({event_id: position} of every fact recorded in the log, number of events in the log)."""
    recorder = container.store.recorder
    facts: dict[str, int] = {}
    events = 0
    start = 0
    while True:
        page = recorder.select_notifications(start=start, limit=1000, inclusive_of_start=False)
        if not page:
            return facts, events
        for notification in page:
            events += 1
            # Only facts are recorded here: every event records a new StatementIssued.
            assert (notification.topic, notification.originator_version) == ("StatementIssued", 1), notification
            event_id = str(uuid.UUID(str(notification.originator_id)))
            assert event_id not in facts, f"fact {event_id} is in the log twice"
            facts[event_id] = notification.id
        start = page[-1].id


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The read-model rows ordered by primary key, as tuples, and the projection's position."""
    with engine.connect() as conn:
        tables = {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in SNAPSHOT_TABLES
        }
        tables["projection_positions"] = [
            tuple(row)
            for row in conn.execute(
                select(projection_positions).where(projection_positions.c.name == "read_models")
            )
        ]
    return tables


def assert_same_rows(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> None:
    assert before.keys() == after.keys()
    for name in before:
        if before[name] != after[name]:
            gone = [row for row in before[name] if row not in after[name]][:3]
            new = [row for row in after[name] if row not in before[name]][:3]
            raise AssertionError(
                f"{name}: {len(before[name])} rows before, {len(after[name])} after; "
                f"e.g. only before {gone}, only after {new}"
            )


def verify(
    server: ServiceProcess, container: Container, tally: Tally, label: str
) -> tuple[dict[str, int], dict[str, int]]:
    """The checks after a restart; returns the numbers to report and the stored facts' positions."""
    ready = caught_up(server)
    stored, events = stored_log(container)
    acknowledged = tally.acknowledged
    bodies = tally.bodies
    assert ready["position"] == container.store.max_position()

    # 1. Every acknowledged fact is stored, at the position the server answered.
    missing = sorted(set(acknowledged) - set(stored))
    assert not missing, f"{len(missing)} acknowledged facts lost, e.g. {missing[:5]}"
    moved = {eid: (pos, stored[eid]) for eid, pos in acknowledged.items() if stored[eid] != pos}
    assert not moved, f"acknowledged at one position, stored at another: {list(moved.items())[:5]}"
    # Nothing is stored that no client sent; a batch is stored whole or not at all.
    phantoms = sorted(set(stored) - set(bodies))
    assert not phantoms, f"stored facts nobody sent: {phantoms[:5]}"
    torn = [
        (sum(eid in stored for eid in a.event_ids), len(a.facts))
        for a in tally.unacknowledged
        if a.kind == "batch" and 0 < sum(eid in stored for eid in a.event_ids) < len(a.facts)
    ]
    assert not torn, f"batches stored in part (stored, sent): {torn}"
    unacknowledged_ids = {eid for a in tally.unacknowledged for eid in a.event_ids}

    # Over HTTP too: the newest acknowledged facts (and a sample of the rest) read back.
    by_position = sorted(acknowledged, key=acknowledged.__getitem__)
    sample = by_position[-40:] + by_position[: -40 : max(len(by_position) // 60, 1)]
    for event_id in sample:
        found = get(server, f"/v1/events/{event_id}", READ, min_position=acknowledged[event_id])
        assert found.status_code == 200, found.text
        assert found.json()["event_id"] == event_id

    # 2. Each stored fact is applied exactly once, with the rows its body calls for.
    with container.engine.connect() as conn:
        revisions = conn.execute(
            select(fact_revisions.c.event_id, fact_revisions.c.revision, fact_revisions.c.position)
        ).all()
        versions = Counter(conn.execute(select(fact_versions.c.event_id)).scalars())
        actor_rows = conn.execute(select(fact_actors.c.event_id, fact_actors.c.actor_id)).all()
        actor_table = set(conn.execute(select(actors.c.id)).scalars())
        position_rows = conn.execute(
            select(projection_positions.c.position).where(projection_positions.c.name == "read_models")
        ).scalars().all()
    per_fact = Counter(row.event_id for row in revisions)
    duplicates = {eid: n for eid, n in per_fact.items() if n > 1}
    assert not duplicates, f"facts applied more than once: {list(duplicates.items())[:5]}"
    assert len(revisions) == events == len(stored), (len(revisions), events, len(stored))
    assert {row.event_id: row.position for row in revisions} == stored
    assert all(row.revision == 1 for row in revisions)
    assert versions == Counter(list(stored)), "fact_versions: not one version per stored fact"
    named: dict[str, set[str]] = {}
    for event_id, actor_id in actor_rows:
        named.setdefault(event_id, set()).add(actor_id)
    assert len(actor_rows) == sum(len(actor_ids(bodies[eid])) for eid in stored), "fact_actors: rows doubled or lost"
    wrong = [eid for eid in stored if named.get(eid) != actor_ids(bodies[eid])]
    assert not wrong, f"fact_actors do not name the fact's actors: {wrong[:5]}"
    assert actor_table == set().union(*(actor_ids(bodies[eid]) for eid in stored))
    assert position_rows == [container.store.max_position()]

    numbers = {
        "requests": len(tally.attempts),
        "acknowledged_facts": len(acknowledged),
        "found_facts": len(set(acknowledged) & set(stored)),
        "stored_facts": len(stored),
        "duplicates": len(duplicates),
        "unacknowledged_requests": len(tally.unacknowledged),
        "unacknowledged_facts": len(unacknowledged_ids),
        "unacknowledged_but_stored": len(unacknowledged_ids & set(stored)),
        "read_model_rows": len(revisions),
    }
    print(f"\n[{label}] {numbers}")
    print(f"[{label}] unanswered requests by error: {dict(tally.errors())}")
    return numbers, stored


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
        print(f"[{label}] {name} the signal: {len(group)} requests, answered {dict(answered)}, "
              f"unanswered {dict(tally.errors(unanswered))} "
              f"({sum(len(a.facts) for a in unanswered)} facts, {kept} of them stored)")


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
            for attempt, answer in zip(batches, answers):
                assert {i["event_id"]: i["position"] for i in answer.json()["items"]} == attempt.positions
            print(f"[{backend} SIGKILL] repeated {len(acknowledged)} facts (200 each) and "
                  f"{len(batches)} batches (statuses {dict(statuses)})")
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
    print(f"\n[{label}] exit code {stopped['code']} {stopped['took']:.2f}s after the signal; "
          f"{stopped['in_flight']} requests in flight at the signal")
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
