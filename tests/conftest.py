"""Fixtures: every test that touches storage runs on SQLite and on PostgreSQL.

PostgreSQL runs when TIMELINE_TEST_POSTGRES_URL names a throwaway database
(``.ci/run`` creates one). Under xdist each worker gets a database of its own beside
it (``<db>_gw0``...), dropped at the end. Every test starts from a just-migrated
database: a copy of a file migrated once per session on SQLite, the session's
database with its rows deleted on PostgreSQL (tests/support/databases.py).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.bootstrap import Container
from service.settings import Settings
from service.webhooks.guard import system_resolve
from tests.support import databases, reports
from tests.support.apps import built, serving_app
from tests.support.subscriptions import FakeResolver
from tests.support.tokens import ADMIN, READ, TOKENS, WRITE
from tests.support.webhook_receiver import Receiver, receiving

# Older test modules import these from here; tests/support holds them.
__all__ = ["ADMIN", "READ", "TOKENS", "WRITE", "built", "serving_app"]

POSTGRES_URL = os.environ.get("TIMELINE_TEST_POSTGRES_URL")


def xdist_worker(config: pytest.Config) -> str | None:
    """``gw0``, ``gw1``... in an xdist worker; None in a plain run (or xdist's controller)."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once for the session; tests get copies."""
    return databases.migrated_sqlite(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[databases.MigratedPostgres]:
    """This process's PostgreSQL database, migrated once for the session."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL: set TIMELINE_TEST_POSTGRES_URL (.ci/run does)")
    with databases.worker_database(POSTGRES_URL, xdist_worker(request.config)) as url:
        migrated = databases.MigratedPostgres.create(url)
        try:
            yield migrated
        finally:
            migrated.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A just-migrated database of its own on each backend, with nothing in it."""
    if request.param == "sqlite":
        return databases.copy_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
    postgres: databases.MigratedPostgres = request.getfixturevalue("postgres_database")
    return postgres.empty()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Two kept-open event-store connections, not ten: a test's container lives for one test, and
    # opening ten connections for each of them was most of its set-up on PostgreSQL.
    return Settings(database_url=database_url, api_tokens=TOKENS, read_wait=5.0, postgres_pool_size=2, _env_file=None)


@pytest.fixture
def resolver() -> FakeResolver:
    """The service's resolver of webhook hosts: names a test gives addresses of its own
    (``resolver.answers``); every other name resolves through the system, as in production."""
    return FakeResolver({}, fallback=system_resolve)


@pytest.fixture
def container(settings: Settings, resolver: FakeResolver) -> Iterator[Container]:
    # database_url is migrated already; migrating again would only find nothing to do.
    yield from built(settings, apply_migrations=False, resolve=resolver)


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
def hook_container(hook_settings: Settings, receiver: Receiver, resolver: FakeResolver) -> Iterator[Container]:
    # Depends on the receiver so that the receiver outlives the dispatcher.
    yield from built(hook_settings, apply_migrations=False, resolve=resolver)


@pytest.fixture
def hooks(hook_container: Container) -> Iterator[TestClient]:
    """The API with projections and the webhook dispatcher running, 127.0.0.1 allow-listed."""
    yield from serving_app(hook_container)


# --- tiers, parallel runs and the closing summary ------------------------------------------

TIERS = ("unit", "integration", "e2e", "fuzz")
# Tests so marked (their own PostgreSQL cluster, a tmpfs mount) share one xdist group, so
# that no two of them ever run at once; with --dist loadgroup one worker takes them all.
EXCLUSIVE_GROUP = "exclusive"


UNIT = Path(__file__).parent / "unit"
# On two cores: the tests often wait (processes, sleeps, sockets), so a third worker fills the
# gaps (a full run took 489 s with three, 557 s with two).
WORKERS = 3


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers, but none for the unit tier alone, which starting them would double."""
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if paths and all(path.is_relative_to(UNIT) for path in paths):
        return 0
    return WORKERS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, which is the folder it lives in."""
    for item in items:
        tier = next((part for part in item.path.parts if part in TIERS), None)
        if tier:
            item.add_marker(tier)
        if item.get_closest_marker("exclusive") and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(EXCLUSIVE_GROUP))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """In an xdist worker, the figures reported so far travel to the controller with the report."""
    report = yield
    if xdist_worker(item.config) and reports.LINES:
        report.user_properties.extend((reports.PROPERTY, line) for line in reports.LINES)
        reports.LINES.clear()
    return report


def pytest_configure(config: pytest.Config) -> None:
    global IN_WORKER
    IN_WORKER = xdist_worker(config) is not None


IN_WORKER = False


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In xdist's controller: the figures a worker's report brought (see above)."""
    if not IN_WORKER:
        reports.LINES.extend(str(value) for name, value in report.user_properties if name == reports.PROPERTY)


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
