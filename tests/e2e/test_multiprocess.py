"""Several API processes and separate workers, under concurrent writers, workers cut off.

The deployment of docs/operations.md, for real: the schema created once by ``migrate``,
``serve --no-workers --processes 3`` (three API processes behind one port), and two
``worker`` processes running the projections and webhook dispatch side by side. Eight
clients record facts through the API processes at once; on PostgreSQL, every database
connection of both workers (pooled, event store and LISTEN) is terminated again and again
while they write. Afterwards:

* no projection skipped a committed fact: the read models hold every fact of the log,
  exactly once, and the webhook outbox has exactly one message per fact for a catch-all
  subscription (the failure that event-store followers are known for is a reader that
  passes a position whose transaction commits later);
* the workers recovered by themselves: they were cut off, are still running, and caught up;
* every acknowledged fact is stored at the position it was answered with;
* ``/metrics`` of any one API process counts the requests of all three.

Runs on both backends (on PostgreSQL in a cluster of its own, tests/support/pg_cluster.py);
the connection kills need PostgreSQL. Numbers print with ``-s``.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, text

from bench.common.processes import (
    ServiceProcess,
    free_port,
    run_service,
    service_env,
    start_service,
    wait_healthy,
    wait_until,
)
from service.bootstrap import bootstrap
from service.settings import Settings
from service.webhooks.tables import webhook_messages
from tests.support import pg_cluster
from tests.support.acknowledged import LOAD_FACTS, Attempt, Tally, Writers, caught_up, verify
from tests.support.marks import EXCLUSIVE
from tests.support.reports import report
from tests.support.webhook_receiver import receiving

pytestmark = pytest.mark.e2e

TOKENS = "w:write,r:read,a:admin"
ADMIN = {"Authorization": "Bearer a"}
API_PROCESSES = 3
WORKERS = 2
KILL_EVERY = 0.2
# Rounds of cuts under load: each finds the workers connected again (they reconnect within one).
CUT_ROUNDS = 10
WORKER_APP = "timeline-test-worker"  # libpq's PGAPPNAME names every connection a worker opens


def terminate_worker_connections(url: str) -> int:
    """Terminates every PostgreSQL backend of the workers; how many there were."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": WORKER_APP},
                ).all()
            )
    finally:
        engine.dispose()


class Cutter:
    """Cuts the workers' connections every KILL_EVERY seconds until stopped."""

    def __init__(self, url: str):
        self.url = url
        self.rounds = 0
        self.terminated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cutter", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(KILL_EVERY):
            self.terminated += terminate_worker_connections(self.url)
            self.rounds += 1

    def __enter__(self) -> Cutter:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def caught_up_all(server: ServiceProcess, timeout: float) -> dict[str, object]:
    """/readyz once every projection (read models and webhook outbox) has no lag."""

    def check() -> dict[str, object] | None:
        body = httpx.get(f"{server.base_url}/readyz", timeout=5).json()
        return body if body.get("projection_lag") and not any(body["projection_lag"].values()) else None

    return wait_until(check, timeout=timeout, interval=0.1, what="every projection caught up")


def worker_attempts(worker: ServiceProcess, outcome: str) -> float:
    """timeline_webhook_attempts_total{outcome} from a worker's own /metrics port."""
    body = httpx.get(f"{worker.base_url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "timeline_webhook_attempts_total" and sample.labels["outcome"] == outcome
    )


def counted_requests(server: ServiceProcess, route: str) -> dict[str, float]:
    """timeline_http_requests_total of ``route`` by status, as /metrics of one process reports it."""
    body = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        if family.name != "timeline_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["route"] == route:
                counts[sample.labels["status"]] = counts.get(sample.labels["status"], 0) + sample.value
    return counts


@pytest.fixture
def deployment_url(database_url: str) -> Iterator[str]:
    """The deployment's database; on PostgreSQL in a cluster of its own.

    Three API processes' pools, two workers and the checks afterwards hold dozens of
    connections at once: on a server shared with other tests they can meet its
    max_connections, and the cuts must find the workers' connections alone.
    """
    if not database_url.startswith("postgresql"):
        yield database_url
        return
    if not pg_cluster.available():
        pytest.skip("needs the PostgreSQL server binaries (initdb, pg_ctl)")
    with pg_cluster.own_cluster() as cluster:
        cluster.create_database("timeline")
        yield cluster.url("timeline")


@pytest.fixture
def deployment(deployment_url: str, tmp_path: Path) -> Iterator[tuple[ServiceProcess, list[ServiceProcess]]]:
    env = service_env(deployment_url, TOKENS, TIMELINE_WEBHOOK_ALLOW_HOSTS="127.0.0.1", TIMELINE_WEBHOOK_TIMEOUT="2")
    code, output = run_service(["migrate"], env, tmp_path / "migrate.log")
    assert code == 0, output
    workers = []
    for i in range(WORKERS):
        metrics_port = free_port()
        worker = start_service(
            ["worker", "--metrics-port", str(metrics_port)],
            {**env, "PGAPPNAME": WORKER_APP},
            tmp_path / f"worker-{i}.log",
            metrics_port,
        )
        workers.append(worker)
    port = free_port()
    api = start_service(
        ["serve", "--port", str(port), "--no-workers", "--processes", str(API_PROCESSES)],
        env,
        tmp_path / "api.log",
        port,
    )
    try:
        wait_healthy(api, timeout=60)
        yield api, workers
    finally:
        for child in (api, *workers):
            child.stop()  # SIGTERM first: serve removes its metrics directory on the way out
            child.kill()


def write_under_cuts(writers: Writers, cutter: Cutter | None) -> list[Attempt]:
    """Run the writers until LOAD_FACTS more facts are acknowledged after the first ones, with
    CUT_ROUNDS rounds of cut worker connections in between when there is a cutter."""
    writers.start()
    try:
        wait_until(lambda: writers.acknowledged_count() >= 20, timeout=30, what="the first acknowledgements")
        flowing = writers.acknowledged_count()
        if cutter is not None:
            with cutter:
                wait_until(lambda: cutter.rounds >= CUT_ROUNDS, timeout=30, what=f"{CUT_ROUNDS} rounds of cuts")
        wait_until(
            lambda: writers.acknowledged_count() >= flowing + LOAD_FACTS,
            timeout=30,
            what=f"{LOAD_FACTS} more facts acknowledged",
        )
    finally:
        writers.stop()
    return list(writers.attempts)


def verified_with_outbox(
    api: ServiceProcess, database_url: str, tally: Tally, label: str, ready: dict[str, object], subscription: str
) -> tuple[dict[str, int], dict[str, int], list[int]]:
    """Verify the stored facts against the tally; return the figures, each fact's position and
    the positions in the subscription's webhook outbox."""
    settings = Settings(database_url=database_url, _env_file=None)
    container = bootstrap(settings, apply_migrations=False)
    try:
        numbers, stored = verify(api, container, tally, label)
        assert caught_up(api)["position"] == ready["position"]
        with container.engine.connect() as conn:
            outbox = (
                conn.execute(
                    select(webhook_messages.c.position).where(webhook_messages.c.subscription_id == subscription)
                )
                .scalars()
                .all()
            )
    finally:
        container.close()
    return numbers, stored, list(outbox)


def assert_every_api_process_counted(api: ServiceProcess, tally: Tally) -> None:
    # Three API processes served, one port; each /metrics adds up all of them.
    started = set(re.findall(r"Started server process \[(\d+)\]", api.output()))
    assert len(started) == API_PROCESSES, api.output()[-3000:]
    singles = [a for a in tally.attempts if a.kind == "single"]
    counted = counted_requests(api, "/v1/events")
    assert counted.get("201", 0) == sum(a.status == 201 for a in singles), (counted, len(singles))


@EXCLUSIVE
def test_api_processes_and_workers_under_concurrent_writers_skip_nothing_and_recover(
    deployment_url: str, deployment: tuple[ServiceProcess, list[ServiceProcess]], tmp_path: Path
) -> None:
    database_url = deployment_url
    api, workers = deployment
    postgres = database_url.startswith("postgresql")
    label = f"{'postgres' if postgres else 'sqlite'} {API_PROCESSES} API processes + {WORKERS} workers"

    with receiving() as receiver:
        hook = receiver.endpoint("all")
        created = httpx.post(f"{api.base_url}/v1/subscriptions", json={"url": hook.url}, headers=ADMIN, timeout=10)
        assert created.status_code == 201, created.text
        subscription = created.json()["id"]

        writers = Writers(api.base_url)
        cutter = Cutter(database_url) if postgres else None
        tally_attempts = write_under_cuts(writers, cutter)

        # The workers recover by themselves: nothing is restarted here.
        load_ended = time.monotonic()
        ready = caught_up_all(api, timeout=90)
        recovered_in = time.monotonic() - load_ended
        for worker in workers:
            assert worker.alive(), worker.output()
        # Each worker serves its own /metrics (--metrics-port); between them they delivered.
        wait_until(lambda: hook.snapshot(), timeout=30, what="a first delivery")
        delivered = wait_until(
            lambda: sum(worker_attempts(w, "delivered") for w in workers), timeout=30, what="a counted delivery"
        )

    tally = Tally(tally_attempts)
    tally.assert_answers_whole()
    assert not tally.refusals(), [(a.status, a.error) for a in tally.refusals()[:5]]
    assert not tally.unacknowledged, tally.errors()

    numbers, stored, outbox = verified_with_outbox(api, database_url, tally, label, ready, subscription)
    log_positions = sorted(stored.values())
    skipped_by_outbox = sorted(set(log_positions) - set(outbox))
    assert not skipped_by_outbox, f"the webhook outbox skipped {len(skipped_by_outbox)} facts: {skipped_by_outbox[:5]}"
    assert sorted(outbox) == log_positions, "the webhook outbox holds a fact twice or one that is not in the log"

    assert_every_api_process_counted(api, tally)

    cut = ""
    if cutter is not None:
        assert cutter.terminated > 0, "no worker connection was ever cut: the test proved nothing"
        lost = sum(w.output().count("connection") for w in workers)
        assert lost > 0, "the workers never noticed losing their connections"
        cut = (
            f", {cutter.terminated} worker connections terminated in {cutter.rounds} rounds, "
            f"caught up {recovered_in:.1f}s after the last"
        )
    report(
        f"[{label}] {writers.clients} writers, {numbers['stored_facts']} facts acknowledged and stored, "
        f"skipped by the read models 0, by the outbox {len(skipped_by_outbox)}{cut}; "
        f"{delivered:.0f} deliveries counted by the workers' /metrics so far"
    )


# --- serve --processes N, with its own worker child ------------------------------------------


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: {pid: command line}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worker_child(server: ServiceProcess) -> int | None:
    return next((pid for pid, cmd in children(server.pid).items() if "service worker" in cmd), None)


def test_serve_with_processes_supervises_its_worker_and_stops_cleanly(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    server = start_service(
        ["serve", "--port", str(port), "--processes", "2"],
        service_env(database_url, TOKENS),
        tmp_path / "serve.log",
        port,
    )
    write = {"Authorization": "Bearer w"}
    try:
        wait_healthy(server, timeout=60)
        with httpx.Client(base_url=server.base_url, timeout=15, headers=write) as http:

            def record_and_read(speaker: str) -> None:
                fact = {
                    "type": "StatementIssued",
                    "occurred_at": "2020-01-06",
                    "summary": f"{speaker} speaks",
                    "actors": [{"id": speaker, "role": "speaker"}],
                    "text": "a statement",
                }
                created = http.post("/v1/events", json=fact)
                assert created.status_code == 201, created.text
                timeline = http.get(
                    f"/v1/actors/{speaker}/timeline", params={"min_position": created.json()["position"]}
                )
                assert timeline.status_code == 200, f"{timeline.text}\n{server.output()[-3000:]}"
                assert [item["summary"] for item in timeline.json()["items"]] == [f"{speaker} speaks"]

            record_and_read("first-speaker")  # projected by the worker child
            first = wait_until(lambda: worker_child(server), timeout=10, what="the worker child")
            api_processes = [pid for pid, cmd in children(server.pid).items() if "service worker" not in cmd]
            assert len(api_processes) >= 2, children(server.pid)

            os.kill(first, signal.SIGKILL)  # the supervisor starts another
            second = wait_until(
                lambda: (pid := worker_child(server)) != first and pid, timeout=20, what="a new worker child"
            )
            record_and_read("second-speaker")
            assert value_of(http.get("/metrics").text, "timeline_appended_events_total") == 2  # both API processes

        spawned = set(children(server.pid)) | {second}
        assert server.stop(30) == 0, server.output()[-3000:]
        # Its children end with it (multiprocessing's resource tracker a moment after it).
        wait_until(
            lambda: not [pid for pid in spawned if running(pid)], timeout=10, what="the children of serve to end"
        )
    finally:
        server.kill()


def value_of(metrics_text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == name
    )
