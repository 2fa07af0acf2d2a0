"""Concurrent writers over HTTP and the accounting of what the server acknowledged.

``Writers`` are CLIENTS threads, each POSTing StatementIssued facts with event_ids of
their own (single facts and batches) until stopped; ``Tally`` is what they saw; ``verify``
checks a server's log and read models against it: every acknowledged fact stored at the
position answered, nothing stored that nobody sent, batches whole or absent, each fact
applied exactly once with the rows its body calls for, the projection at the log's head.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, select

from bench.common.processes import ServiceProcess, wait_until
from service.bootstrap import Container, bootstrap
from service.readmodels.tables import (
    actors,
    fact_actors,
    fact_revisions,
    fact_versions,
    projection_positions,
)
from service.settings import Settings
from tests.support.reports import report

TOKENS = "w:write,r:read"
WRITE = {"Authorization": "Bearer w"}
READ = {"Authorization": "Bearer r"}
CLIENTS = 8
BATCH = 10
BATCH_EVERY = 4  # every fourth request of a client is a batch of BATCH facts
# Facts acknowledged before the signal: the writers are in full flow by then, with requests in
# flight on every connection. Every acknowledged fact is read back and (after a kill) sent again,
# so more facts only make the checks slower, not stronger.
LOAD_FACTS = 300
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


PROBLEM_JSON = "application/problem+json"


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
    content_type: str | None = None
    retry_after: str | None = None

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
        attempt.content_type = response.headers.get("content-type")
        attempt.retry_after = response.headers.get("retry-after")
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
    """Writers against ``server`` until LOAD_FACTS are acknowledged, then ``then(writers)``; stopped."""
    writers = Writers(server.base_url)
    writers.start()
    try:
        wait_until(
            lambda: writers.acknowledged_count() >= LOAD_FACTS or not server.alive(),
            timeout=30,
            what=f"{LOAD_FACTS} facts acknowledged",
        )
        assert server.alive(), server.output()
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
            for row in conn.execute(select(projection_positions).where(projection_positions.c.name == "read_models"))
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
        position_rows = (
            conn.execute(select(projection_positions.c.position).where(projection_positions.c.name == "read_models"))
            .scalars()
            .all()
        )
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
    report(f"[{label}] {numbers}")
    print(f"[{label}] unanswered requests by error: {dict(tally.errors())}")
    return numbers, stored


def verify_database(
    server: ServiceProcess, database_url: str, tally: Tally, label: str
) -> tuple[dict[str, int], dict[str, int]]:
    """``verify``, reading the store of ``database_url`` (already migrated) from outside the server."""
    container = bootstrap(Settings(database_url=database_url, _env_file=None), apply_migrations=False)
    try:
        return verify(server, container, tally, label)
    finally:
        container.close()
