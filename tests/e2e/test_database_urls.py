"""Any PostgreSQL URL SQLAlchemy accepts works: a Unix socket, a password that must be escaped.

Each test runs ``migrate`` and ``serve`` as real processes against a cluster of its own that
checks passwords (scram-sha-256, over TCP and the socket alike), so a wrong password is
refused there and a right one proves it reached the server unchanged. A fact recorded
and read back with ``min_position`` goes through the event store, the projection worker and
the read engine; the LISTEN connection shows in ``pg_stat_activity``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common.processes import run_service, service_env, serving, wait_until
from tests.support.marks import EXCLUSIVE
from tests.support.pg_cluster import Cluster, available, own_cluster

pytestmark = [pytest.mark.e2e, EXCLUSIVE, pytest.mark.skipif(not available(), reason="no PostgreSQL server binaries")]

TOKENS = "w:write,r:read"
ROLE = "timeline owner"
# Every character a URL must escape in a password, and the one alembic's config parser reads as
# interpolation.
PASSWORD = "p@ss%w:rd/x#y?z"
DATABASE = "timeline"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with own_cluster(password_auth=True) as running:
        running.create_role(ROLE, PASSWORD)
        running.create_database(DATABASE, owner=ROLE)
        yield running


def listeners(cluster: Cluster) -> int:
    """Sessions of ROLE waiting in LISTEN, as the server sees them."""
    import psycopg

    with psycopg.connect(host=str(cluster.socket_dir), port=cluster.port, user="postgres", dbname=DATABASE) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND query LIKE 'LISTEN%%'", (ROLE,)
        ).fetchone()
    return int(row[0]) if row else 0


def fact(summary: str) -> dict[str, object]:
    return {
        "type": "StatementIssued",
        "occurred_at": "2020-01-06",
        "summary": summary,
        "actors": [{"id": "nato", "role": "speaker"}],
        "text": "no withdrawal",
        "sources": [{"url": "https://example.org/a", "publisher": "Example"}],
    }


@pytest.mark.parametrize("transport", ["tcp", "socket"])
def test_migrate_and_serve_take_any_url_and_the_password_reaches_the_server(
    cluster: Cluster, transport: str, tmp_path: Path
) -> None:
    address = cluster.url if transport == "tcp" else cluster.socket_url
    url = address(DATABASE, ROLE, PASSWORD)

    # The server checks passwords: a wrong one is refused, so the right one below was really sent.
    code, output = run_service(["migrate"], service_env(address(DATABASE, ROLE, "wrong")), tmp_path / "wrong.log")
    assert code != 0 and "password authentication failed" in output, output

    code, output = run_service(["migrate"], service_env(url), tmp_path / "migrate.log")
    assert code == 0, output

    with serving(url, TOKENS, tmp_path / "serve.log") as server:
        base = server.base_url
        answer = httpx.post(
            f"{base}/v1/events", json=fact(f"over {transport}"), headers={"Authorization": "Bearer w"}, timeout=10
        )
        assert answer.status_code == 201, answer.text
        recorded = answer.json()
        found = httpx.get(
            f"{base}/v1/events/{recorded['event_id']}",
            params={"min_position": recorded["position"]},
            headers={"Authorization": "Bearer r"},
            timeout=10,
        )
        assert found.status_code == 200, found.text
        assert found.json()["summary"] == f"over {transport}"
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        # The store's LISTEN connection logged in too (its wake-ups spare the workers' polling).
        wait_until(lambda: listeners(cluster) >= 1, timeout=10, what="a LISTEN session of the service's role")
        assert "LISTEN connection lost" not in server.output(), server.output()
