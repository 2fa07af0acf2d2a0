"""A full disk under SQLite, through the HTTP API: every write answers 507 and records
nothing, reads keep working, /readyz says why, and once there is room again writes
resume and the read models catch up, without a restart.

The disk is a small tmpfs (tests/support/diskspace.py): root only, skipped elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bench.common.processes import wait_until
from service.api.app import create_app
from service.bootstrap import Container
from service.readmodels.tables import fact_versions
from service.settings import Settings
from tests.conftest import ADMIN, READ, TOKENS, WRITE, built, serving_app
from tests.support.acknowledged import statement
from tests.support.diskspace import fill, small_disk
from tests.support.marks import EXCLUSIVE

pytestmark = [pytest.mark.e2e, EXCLUSIVE]

PROBLEM_JSON = "application/problem+json"


def big_statement(index: int) -> dict[str, Any]:
    """A fact of some 15 kB, so that each append needs fresh pages."""
    fact = statement(1, index)
    fact["text"] = f"statement {index} " + "x" * 15_000
    return fact


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "8m") as mounted:
        yield mounted


@pytest.fixture
def full_disk_container(disk: Path) -> Iterator[Container]:
    settings = Settings(
        database_url=f"sqlite:///{disk / 'timeline.sqlite3'}",
        api_tokens=TOKENS,
        read_wait=5.0,
        webhook_allow_hosts="127.0.0.1",
        _env_file=None,
    )
    yield from built(settings)


@pytest.fixture
def api(full_disk_container: Container) -> Iterator[TestClient]:
    yield from serving_app(full_disk_container)


def assert_insufficient_storage(response: httpx.Response) -> None:
    assert response.status_code == 507, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert (body["status"], body["title"]) == (507, "Insufficient storage")
    assert "disk is full" in body["detail"] and "nothing was recorded" in body["detail"]


def read_model_count(container: Container) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(fact_versions)).scalar_one())


def test_full_disk_refuses_every_write_with_507_and_recovers_without_restart(
    api: TestClient, full_disk_container: Container, disk: Path
) -> None:
    container = full_disk_container
    kept = api.post("/v1/events", json=big_statement(0), headers=WRITE)
    assert kept.status_code == 201, kept.text
    event_id = kept.json()["event_id"]
    assert container.wait_for_position(kept.json()["position"], 10)
    assert api.get("/readyz").json()["status"] == "ready"

    filler = fill(disk)
    head = container.store.max_position()
    writes = {
        "single": lambda: api.post("/v1/events", json=big_statement(1), headers=WRITE),
        "batch": lambda: api.post(
            "/v1/events/batch", json={"events": [big_statement(i) for i in range(2, 5)]}, headers=WRITE
        ),
        "correction": lambda: api.post(
            f"/v1/events/{event_id}/corrections",
            json={"changes": {"text": "y" * 15_000}, "reason": "the full text"},
            headers=WRITE,
        ),
        "retraction": lambda: api.post(f"/v1/events/{event_id}/retraction", json={"reason": "dup"}, headers=WRITE),
        "actor": lambda: api.put("/v1/actors/nato", json={"name": "NATO", "aliases": ["n" * 200] * 40}, headers=WRITE),
        "subscription": lambda: api.post(
            "/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook", "description": "d" * 500}, headers=ADMIN
        ),
    }
    for name, write in writes.items():
        response = write()
        assert_insufficient_storage(response)
        assert container.store.max_position() == head, f"{name} recorded something"

    assert api.get(f"/v1/events/{event_id}", headers=READ).status_code == 200
    timeline = api.get("/v1/actors/speaker-1/timeline", headers=READ)
    assert timeline.status_code == 200 and [f["event_id"] for f in timeline.json()["items"]] == [event_id]
    assert api.get("/v1/subscriptions", headers=ADMIN).json()["items"] == []

    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "storage full"
    assert ready.json()["storage"]["status"] == "full" and "disk" in ready.json()["storage"]["detail"]

    filler.unlink()
    assert api.get("/readyz").status_code == 200  # room again: ready before any write tells it
    resumed = api.post("/v1/events", json=big_statement(5), headers=WRITE)
    assert resumed.status_code == 201, resumed.text
    assert container.wait_for_position(resumed.json()["position"], 15)
    assert read_model_count(container) == 2
    assert api.get("/readyz").json()["storage"] == {"status": "ok"}


def test_projection_survives_a_full_disk_says_so_and_catches_up_when_room_is_made(
    full_disk_container: Container, disk: Path
) -> None:
    container = full_disk_container
    container.store.record_facts([_fact(big_statement(i)) for i in range(3)])
    filler = fill(disk)
    with TestClient(create_app(container, run_workers=True)) as api:
        # The read models cannot write their rows: the workers keep retrying, and say why.
        ready = wait_until(lambda: (r := api.get("/readyz")).status_code == 503 and r, 10, what="storage full")
        assert ready.json()["status"] == "storage full", ready.text
        assert ready.json()["projection_lag"]["read_models"] == 3
        assert read_model_count(container) == 0
        assert api.get("/v1/events", headers=READ).json()["items"] == []
        filler.unlink()
        assert container.wait_for_position(container.store.max_position(), 20)
        assert read_model_count(container) == 3
        assert len(api.get("/v1/events", headers=READ).json()["items"]) == 3
        assert api.get("/readyz").json()["status"] == "ready"


def _fact(raw: dict[str, Any]) -> Any:
    from service.domain.facts import validate_fact

    raw = {**raw, "event_id": str(uuid.uuid4())}
    return validate_fact(raw)
