"""Fixtures the end-to-end tests share: one browser, and databases that live as long as a module.

Starting a server costs seconds; a module whose tests neither stop, restart nor reconfigure
the server, and do not depend on each other's writes, shares one per backend through
``module_database_url``. A module using it must not also use ``database_url``: on
PostgreSQL both name the same database, which ``database_url`` empties for each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import Demo, launched_chromium, watched_page


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty database on each backend, for every test of one module."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'timeline.sqlite3'}"
    # This worker's database, emptied; the servers a module starts find it migrated.
    return request.getfixturevalue("postgres_database").empty()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium for a module's page tests; each test gets a browser context of its own.

    Not one per session: Playwright's sync API keeps an event loop running in the thread that
    started it, and later tests on the same worker that call ``asyncio.run`` would fail.
    """
    with launched_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, demo: Demo) -> Iterator[Any]:
    """A page of its own for one test, on the module's ``demo`` fixture."""
    with watched_page(browser, demo) as opened:
        yield opened
