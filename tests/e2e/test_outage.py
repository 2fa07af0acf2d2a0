"""A PostgreSQL outage under concurrent writers, on the real server process.

Eight clients record facts over HTTP (single facts and batches) while the PostgreSQL
cluster under the server (one of the test's own, tests/support/pg_cluster.py) is stopped for
OUTAGE_SECONDS, then started again. Meanwhile:

* every request sent during the outage is refused within ANSWER_WITHIN seconds with 503
  problem+json and ``Retry-After``: none hangs, none gets a 500;
* ``/healthz`` answers 200 throughout, ``/readyz`` says 503 not ready with the reason,
  ``/metrics`` answers in bounded time;
* once the database is back, appends succeed again with no restart, the projections
  catch up (``/readyz`` 200, no lag), the webhook dispatcher delivers again;
* every acknowledged fact is stored once, at the position answered (tests/support/acknowledged.py).

The figures go to the closing summary (tests/support/reports.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.common.processes import (
    ServiceProcess,
    free_port,
    service_env,
    start_service,
    wait_healthy,
    wait_until,
)
from tests.support.acknowledged import (
    READ,
    TOKENS,
    WRITE,
    Attempt,
    Tally,
    Writers,
    verify_database,
)
from tests.support.marks import EXCLUSIVE
from tests.support.pg_cluster import Cluster, available, own_cluster
from tests.support.reports import report
from tests.support.webhook_receiver import Endpoint, receiving

pytestmark = [pytest.mark.e2e, EXCLUSIVE, pytest.mark.skipif(not available(), reason="no PostgreSQL server binaries")]

# The outage the service is specified to ride out: a minute, twenty times the longest timeout a
# request or probe meets on the way (the 3 s probe limit, the pool's 1 s checkout, libpq's 2 s
# connect), so every one of them runs out again and again while the database is away.
OUTAGE_SECONDS = 60.0
ANSWER_WITHIN = 2.0  # a request during the outage is refused within this many seconds
# One in flight as the server goes away first meets the pooled connections it cut, each tried
# 0.2 s apart (service/store/postgres.py), before the checkout timeout.
IN_FLIGHT_WITHIN = 4.0
HEALTHZ_WITHIN = 0.5
PROBE_WITHIN = 5.0  # /readyz and /metrics, which ask the database (and give up after 3 s)
RECOVERY_WITHIN = 15.0  # from the database's return to the first fact recorded again
ADMIN = {"Authorization": "Bearer a"}
PROBE_ACTOR = "outage-probe"


@dataclass
class Sample:
    path: str
    started: float
    elapsed: float
    status: int | None
    body: str


class Probes:
    """A thread asking /healthz, /readyz and /metrics in turn, as a load balancer and Prometheus would."""

    def __init__(self, server: ServiceProcess):
        self.server = server
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probes", daemon=True)

    def __enter__(self) -> Probes:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)

    def during(self, path: str, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if s.path == path and start <= s.started and s.started + s.elapsed <= end]

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.base_url, timeout=10) as client:
            while not self._stop.is_set():
                for path in ("/healthz", "/readyz", "/metrics"):
                    started = time.monotonic()
                    try:
                        response = client.get(path)
                        status, body = response.status_code, response.text
                    except httpx.HTTPError as exc:
                        status, body = None, f"{type(exc).__name__}: {exc}"
                    self.samples.append(Sample(path, started, time.monotonic() - started, status, body))
                self._stop.wait(0.2)


def probe_fact() -> dict[str, object]:
    return {
        "type": "StatementIssued",
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2020-01-06",
        "summary": "after the outage",
        "actors": [{"id": PROBE_ACTOR, "role": "speaker"}],
        "text": "the database is back",
        "sources": [{"url": "https://example.org/back", "publisher": "Example"}],
    }


def subscribe(server: ServiceProcess, endpoint_url: str) -> None:
    subscribed = httpx.post(
        f"{server.base_url}/v1/subscriptions",
        headers=ADMIN,
        timeout=10,
        json={"url": endpoint_url, "actors": [PROBE_ACTOR]},
    )
    assert subscribed.status_code == 201, subscribed.text


@dataclass
class Outage:
    stopping: float  # when the stop began
    down: float  # when the database was down
    restarting: float  # when its start began: from here on it may answer again
    up: float  # when the start had finished
    recovered: float  # the end of the first fact acknowledged after its return


def ride_out_outage(cluster: Cluster, writers: Writers) -> Outage:
    """Stop the database under the writers for OUTAGE_SECONDS, start it again, and wait for
    200 more facts acknowledged after its return."""
    wait_until(lambda: writers.acknowledged_count() >= 200, timeout=30, what="200 facts acknowledged")
    stopping = time.monotonic()
    cluster.stop()
    down = time.monotonic()
    threading.Event().wait(OUTAGE_SECONDS)  # the outage itself, not a wait for anything
    restarting = time.monotonic()
    cluster.start()
    up = time.monotonic()
    recovered = wait_until(
        lambda: min(
            (a.ended for a in list(writers.attempts) if a.started >= up and a.acknowledged),
            default=None,
        ),
        timeout=RECOVERY_WITHIN + 15,
        what="a fact recorded after the database's return",
    )
    acknowledged_then = writers.acknowledged_count()
    wait_until(
        lambda: writers.acknowledged_count() >= acknowledged_then + 200,
        timeout=30,
        what="200 more facts acknowledged after the return",
    )
    return Outage(stopping, down, restarting, up, recovered)


def assert_refused_at_once(tally: Tally, outage: Outage) -> tuple[float, list[Attempt], float]:
    """During the outage: quick, clear refusals, and nothing else. Returns the slowest refusal,
    the requests in flight at the stop and the end of the first refusal."""
    # Until the start began: pg_ctl's start waits for the server, which already answers meanwhile.
    down, up = outage.down, outage.restarting
    during = [a for a in tally.attempts if a.started >= down and a.ended <= up]
    assert len(during) > 8 * OUTAGE_SECONDS / 2, f"only {len(during)} requests during the outage"
    wrong = [
        (a.status, a.error, a.content_type)
        for a in during
        if a.status != 503 or a.content_type != "application/problem+json" or not a.retry_after
    ]
    assert not wrong, f"{len(wrong)} requests not refused with 503 problem+json + Retry-After: {wrong[:5]}"
    slowest = max(a.ended - a.started for a in during)
    assert slowest <= ANSWER_WITHIN, f"a refusal took {slowest:.2f}s"
    in_flight = [a for a in tally.attempts if a.started < down < a.ended]
    assert all(a.ended - a.started <= IN_FLIGHT_WITHIN for a in in_flight), sorted(
        round(a.ended - a.started, 2) for a in in_flight
    )
    unanswered = [a for a in tally.attempts if a.status is None]
    assert not unanswered, f"requests never answered: {tally.errors(unanswered)}"
    assert not [a for a in tally.attempts if a.status == 500], "a 500 during the outage"
    first_refusal = min(a.ended for a in tally.attempts if a.ended >= outage.stopping and a.status == 503)
    return slowest, in_flight, first_refusal


def assert_probes_told_the_truth(probes: Probes, outage: Outage) -> list[Sample]:
    """/healthz stays up and quick; /readyz and /metrics say the database is down, in time.
    Returns the /healthz samples."""
    stopping, down, up = outage.stopping, outage.down, outage.restarting
    healthz = probes.during("/healthz", stopping, up)
    assert healthz and all(s.status == 200 and s.elapsed <= HEALTHZ_WITHIN for s in healthz), [
        (s.status, round(s.elapsed, 2)) for s in healthz if s.status != 200 or s.elapsed > HEALTHZ_WITHIN
    ]
    readyz = probes.during("/readyz", down, up)
    assert readyz and all(s.status == 503 and "unavailable" in s.body for s in readyz), [
        (s.status, s.body[:100]) for s in readyz if s.status != 503
    ][:5]
    metrics = probes.during("/metrics", down, up)
    assert metrics and all(s.status in (200, 503) and s.elapsed <= PROBE_WITHIN for s in metrics)
    assert any("timeline_database_up 0.0" in s.body for s in metrics)
    assert max(s.elapsed for s in readyz + metrics) <= PROBE_WITHIN
    return healthz


def assert_webhooks_delivered_again(server: ServiceProcess, endpoint: Endpoint) -> None:
    fact = probe_fact()
    answer = httpx.post(f"{server.base_url}/v1/events", json=fact, headers=WRITE, timeout=10)
    assert answer.status_code == 201, answer.text
    endpoint.wait_for(
        lambda got: any(r.event_id == fact["event_id"] for r in got),
        timeout=20,
        what="the webhook of the fact recorded after the outage",
    )
    assert (
        httpx.get(
            f"{server.base_url}/v1/events/{fact['event_id']}",
            headers=READ,
            timeout=10,
            params={"min_position": answer.json()["position"]},
        ).status_code
        == 200
    )


def test_a_postgresql_outage_is_refused_with_503_at_once_and_everything_resumes_by_itself(tmp_path: Path) -> None:
    with own_cluster() as cluster, receiving() as receiver:
        cluster.create_database("timeline")
        url = cluster.url("timeline")
        endpoint = receiver.endpoint("outage")
        env = service_env(
            url,
            f"{TOKENS},a:admin",
            TIMELINE_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
            TIMELINE_WEBHOOK_RETRY_SCHEDULE="0.2,0.5,1",
            TIMELINE_WEBHOOK_TIMEOUT="2",
        )
        port = free_port()
        server = start_service(["serve", "--port", str(port)], env, tmp_path / "serve.log", port)
        try:
            wait_healthy(server)
            subscribe(server, endpoint.url)

            writers = Writers(server.base_url)
            writers.start()
            with Probes(server) as probes:
                try:
                    outage = ride_out_outage(cluster, writers)
                finally:
                    writers.stop()
            tally = Tally(list(writers.attempts))
            tally.assert_answers_whole()

            slowest, in_flight, first_refusal = assert_refused_at_once(tally, outage)
            healthz = assert_probes_told_the_truth(probes, outage)

            recovery = outage.recovered - outage.up
            assert recovery <= RECOVERY_WITHIN, f"appends resumed {recovery:.1f}s after the database returned"

            # After: every acknowledged fact once, the projections caught up (verify asserts /readyz 200).
            numbers, _stored = verify_database(server, url, tally, "postgres outage")
            ready = httpx.get(f"{server.base_url}/readyz", timeout=10).json()
            assert ready["projection_lag"]["webhooks"] == 0, ready

            # ...and the webhook dispatcher delivers again.
            assert_webhooks_delivered_again(server, endpoint)

            failed = [a for a in tally.attempts if not a.acknowledged]
            report(
                f"[postgres outage {OUTAGE_SECONDS:g}s, {len(writers.attempts)} requests] "
                f"requests failed: {len(failed)} "
                f"(all 503 + Retry-After), first answer during the outage {first_refusal - outage.stopping:.2f}s "
                f"after the stop began, slowest refusal {slowest:.2f}s (in flight at the stop "
                f"{max((a.ended - a.started for a in in_flight), default=0):.2f}s), "
                f"healthz slowest {max(s.elapsed for s in healthz):.3f}s, "
                f"recovery {recovery:.2f}s after the database returned, facts lost: "
                f"{numbers['acknowledged_facts'] - numbers['found_facts']}, facts doubled: {numbers['duplicates']}"
            )
        finally:
            server.kill()
