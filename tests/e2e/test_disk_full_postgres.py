"""The real server on PostgreSQL whose tables' disk fills up under eight concurrent writers.

Where the disk fills decides what PostgreSQL does. WAL lives in the data directory
(``pg_wal``): when it cannot grow, the server PANICs and stops, an outage that clients see
as 503 (tests/e2e/test_outage.py has those). When a table or index file cannot grow, only the
statement that needed the new page fails, with ERROR 53100 disk_full, and the server goes
on serving: that is the full disk the service must answer with 507. It is also the common
case in production, where the tables live on a volume of their own (a tablespace, or a
data directory whose WAL is on another disk) and grow much faster than the WAL, which is
recycled. So here the cluster's data directory, WAL included, is on the ordinary disk and
the test database lives in a tablespace on a small tmpfs (tests/support/diskspace.py; root only,
skipped elsewhere), filled at once with a filler file while the writers run.

Every kind of write on the full disk is refused with a 507 problem+json and records
nothing; reads keep answering and /readyz says why; once the filler is deleted, appends
resume without a restart, the read models catch up, and a reader following the positions
from the start meets every stored fact once, in order. Then: nothing acknowledged is lost
or doubled (tests/support/acknowledged.py).
"""

from __future__ import annotations

import secrets
import string
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import pytest
from psycopg import sql

from bench.common.processes import ServiceProcess, serving, wait_until
from tests.support import pg_cluster
from tests.support.acknowledged import (
    CLIENTS,
    PROBLEM_JSON,
    READ,
    Writers,
    get,
    statement,
    verify_database,
)
from tests.support.diskspace import (
    assert_accepted_or_refused_as_full,
    fill,
    free_and_resume,
    small_disk,
)
from tests.support.marks import EXCLUSIVE
from tests.support.reports import report

pytestmark = [
    pytest.mark.e2e,
    EXCLUSIVE,
    pytest.mark.skipif(not pg_cluster.available(), reason="needs the PostgreSQL server binaries (initdb, pg_ctl)"),
]

# This test's clusters keep to ports of their own, away from the other tests' clusters.
PORTS = range(55520, 55540)
# The new database is a copy of template1 (some 8 MB) in the tablespace; the rest is the
# room the writers fill before the filler takes what is left.
DISK_SIZE = "40m"
DATABASE = "timeline"
TABLESPACE = "small_disk"
TOKENS = "w:write,r:read,a:admin"
WRITE = {"Authorization": "Bearer w"}
ADMIN = {"Authorization": "Bearer a"}
# A refusal answers about as fast as an append; the event store's ten attempts 0.2 s apart
# (what a full disk met before it was told apart) took 1.8 s.
REFUSAL_SECONDS = 1.0
SLUG_CHARS = string.ascii_lowercase + string.digits


def noise(size: int) -> str:
    """Text that PostgreSQL cannot compress, so that storing it needs fresh pages."""
    return secrets.token_urlsafe(size)[:size]


def slug(size: int) -> str:
    return "".join(secrets.choice(SLUG_CHARS) for _ in range(size))


def big_statement(index: int) -> dict[str, Any]:
    fact = statement(CLIENTS, index)  # a speaker of its own: no writer's
    fact["text"] = noise(15_000)
    return fact


@contextmanager
def tables_on_small_disk() -> Iterator[tuple[str, Path]]:
    """A cluster of this test's own whose database ``DATABASE`` lives on a small tmpfs.

    Yields the database's URL and the tmpfs. The tmpfs is mounted outside the test's
    ``tmp_path``, whose parents only root may enter: the server runs as ``postgres``.
    """
    mountpoint = Path(tempfile.mkdtemp(prefix="pgdisk-"))
    mountpoint.chmod(0o755)
    try:
        with small_disk(mountpoint, DISK_SIZE, owner=pg_cluster.SUPERUSER) as disk:
            with pg_cluster.own_cluster(ports=PORTS) as cluster:
                cluster.execute(
                    sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                        sql.Identifier(TABLESPACE), sql.Literal(str(disk))
                    )
                )
                cluster.execute(
                    sql.SQL("CREATE DATABASE {} TABLESPACE {}").format(
                        sql.Identifier(DATABASE), sql.Identifier(TABLESPACE)
                    )
                )
                yield cluster.url(DATABASE), disk
    finally:
        mountpoint.rmdir()


def assert_insufficient_storage(response: httpx.Response, what: str) -> None:
    assert response.status_code == 507, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), what
    body = response.json()
    assert (body["status"], body["title"]) == (507, "Insufficient storage"), what
    assert "disk is full" in body["detail"] and "nothing was recorded" in body["detail"], what


def refused_writes(server: ServiceProcess, fact_id: str) -> dict[str, float]:
    """Every kind of write on the full disk: each answers 507; the seconds each took."""
    base = server.base_url
    writes = {
        "single": lambda: httpx.post(f"{base}/v1/events", json=big_statement(0), headers=WRITE, timeout=30),
        "batch": lambda: httpx.post(
            f"{base}/v1/events/batch",
            json={"events": [big_statement(i) for i in range(1, 4)]},
            headers=WRITE,
            timeout=30,
        ),
        "correction": lambda: httpx.post(
            f"{base}/v1/events/{fact_id}/corrections",
            json={"changes": {"text": noise(15_000)}, "reason": "the full text"},
            headers=WRITE,
            timeout=30,
        ),
        "actor": lambda: httpx.put(
            f"{base}/v1/actors/{slug(20)}",
            json={"name": "NATO", "aliases": [noise(400) for _ in range(50)]},
            headers=WRITE,
            timeout=30,
        ),
        "subscription": lambda: httpx.post(
            f"{base}/v1/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hook",
                "actors": [slug(80) for _ in range(200)],
                "description": noise(500),
            },
            headers=ADMIN,
            timeout=30,
        ),
    }
    took = {}
    for name, write in writes.items():
        started = time.monotonic()
        response = write()
        took[name] = time.monotonic() - started
        assert_insufficient_storage(response, name)
    return took


def changes_from_start(server: ServiceProcess) -> list[tuple[int, str]]:
    """(position, event_id) of every change, as a reader paging from position 0 meets them."""
    seen: list[tuple[int, str]] = []
    after = 0
    while True:
        page = get(server, "/v1/changes", READ, after=after, limit=500)
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        if not items:
            return seen
        seen += [(item["position"], item["event_id"]) for item in items]
        after = page.json()["next_after"]


def test_postgres_tablespace_fills_under_writers_refuses_with_507_and_resumes_without_restart(
    tmp_path: Path,
) -> None:
    with tables_on_small_disk() as (url, disk):
        env = {"TIMELINE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
        with serving(url, TOKENS, tmp_path / "server" / "server.log", extra_env=env) as server:
            writers = Writers(server.base_url)
            writers.start()
            try:
                wait_until(lambda: writers.acknowledged_count() >= 20, 15, what="the first acknowledgements")
                fact_id = next(a for a in list(writers.attempts) if a.acknowledged).event_ids[0]
                # The projections cannot write on a full disk either: the read checked below
                # must already be in the read models before the disk fills.
                wait_until(
                    lambda: get(server, "/v1/actors/speaker-0/timeline", READ).status_code == 200,
                    15,
                    what="speaker-0's facts in the read models",
                )
                filler = fill(disk)
                filled = time.monotonic()
                wait_until(lambda: any(a.status == 507 for a in list(writers.attempts)), 30, what="a 507")

                took = refused_writes(server, fact_id)
                ready = get(server, "/readyz")
                assert ready.status_code == 503, ready.text
                assert ready.json()["status"] == "storage full"
                assert "disk full" in ready.json()["storage"]["detail"]
                listed = get(server, "/v1/events", READ, limit=5)
                assert listed.status_code == 200 and listed.json()["items"], listed.text
                timeline = get(server, "/v1/actors/speaker-0/timeline", READ)
                assert timeline.status_code == 200 and timeline.json()["items"], timeline.text
                assert get(server, "/v1/subscriptions", ADMIN).json()["items"] == []

                freed, resumed = free_and_resume(filler, writers)
            finally:
                writers.stop()

            tally = assert_accepted_or_refused_as_full(writers, server)
            statuses = Counter(a.status for a in tally.attempts)

            # The explicit writes above are no client's: verify finds them stored if any was.
            numbers, stored = verify_database(server, url, tally, "postgres disk full")
            followed = changes_from_start(server)
            assert [position for position, _ in followed] == sorted(stored.values())
            assert {eid: pos for pos, eid in followed} == stored
            assert get(server, "/v1/subscriptions", ADMIN).json()["items"] == []

            refusals = [a.ended - a.started for a in tally.attempts if a.status == 507]
            assert median(refusals) < REFUSAL_SECONDS and max(took.values()) < REFUSAL_SECONDS, (refusals, took)
            lost = numbers["acknowledged_facts"] - numbers["found_facts"]
            report(
                f"[postgres disk full] appends refused with 507: {statuses[507]}, accepted: {statuses[201]}, "
                f"facts lost: {lost}, time to answer a 507: median {median(refusals):.2f}s, "
                f"max {max(refusals):.2f}s; explicit writes: "
                + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in took.items())
                + f"; first 507 {min(a.ended for a in tally.attempts if a.status == 507) - filled:.2f}s after the fill"
                f", time to resume after the space was freed: {resumed.ended - freed:.2f}s"
            )
