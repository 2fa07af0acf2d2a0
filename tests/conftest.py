"""Fixtures: every test that touches storage runs on SQLite and on PostgreSQL.

PostgreSQL runs when TIMELINE_TEST_POSTGRES_URL names a throwaway database
(``.ci/run`` creates one); each test gets an empty schema there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from service.api.app import create_app
from service.bootstrap import Container, bootstrap
from service.settings import Settings
from tests.support import reports
from tests.support.webhook_receiver import Receiver, receiving

POSTGRES_URL = os.environ.get("TIMELINE_TEST_POSTGRES_URL")
TOKENS = "admin-token:admin,write-token:write,read-token:read"
READ = {"Authorization": "Bearer read-token"}
WRITE = {"Authorization": "Bearer write-token"}
ADMIN = {"Authorization": "Bearer admin-token"}


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'timeline.sqlite3'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL: set TIMELINE_TEST_POSTGRES_URL (.ci/run does)")
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_tokens=TOKENS, read_wait=5.0, _env_file=None)


def built(settings: Settings) -> Iterator[Container]:
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()


def serving_app(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, run_workers=True)) as test_client:
        yield test_client


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    yield from built(settings)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """The HTTP API with its projection workers running in the background."""
    yield from serving_app(container)


@pytest.fixture
def demo_client(client: TestClient, container: Container) -> TestClient:
    """The API over the demo data, read models caught up."""
    from service.demo import load_demo

    load_demo(container.store)
    assert container.wait_for_position(container.store.max_position(), 10)
    return client


# --- webhooks: a real receiver on 127.0.0.1, allow-listed, with a fast retry schedule -----


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_allow_hosts": "127.0.0.1", "webhook_retry_schedule": "0.2,0.2,0.2", "webhook_timeout": 2.0}
    )


@pytest.fixture
def hook_container(hook_settings: Settings, receiver: Receiver) -> Iterator[Container]:
    # Depends on the receiver so that the receiver outlives the dispatcher.
    yield from built(hook_settings)


@pytest.fixture
def hooks(hook_container: Container) -> Iterator[TestClient]:
    """The API with projections and the webhook dispatcher running, 127.0.0.1 allow-listed."""
    yield from serving_app(hook_container)


TIERS = ("unit", "integration", "e2e", "fuzz")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, which is the folder it lives in."""
    for item in items:
        tier = next((part for part in item.path.parts if part in TIERS), None)
        if tier:
            item.add_marker(tier)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures the tests reported (tests/support/reports.py), before pytest's closing line."""
    if not reports.LINES:
        return
    terminalreporter.section("figures")
    for line in reports.LINES:
        terminalreporter.write_line(line)
    fuzz_failures = [r for r in terminalreporter.stats.get("failed", []) if "test_api_fuzz" in r.nodeid]
    if any("fuzz" in line for line in reports.LINES):
        terminalreporter.write_line(f"[fuzz] operations that failed a check: {len(fuzz_failures)}")
