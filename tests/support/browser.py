"""The web timeline in a real browser: Debian's chromium driven by Playwright, over ``serve --demo``.

``launched_chromium`` starts the browser (skipped, or failed in CI, where it cannot run);
``demo_server`` starts ``python -m service serve --demo`` and waits until its read models
hold the demo data; the rest are the waits and checks the page tests share. Screenshots go
to ``test-artifacts/screenshots/`` (``TIMELINE_TEST_ARTIFACTS`` names another folder).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bench.common.browser import CHROMIUM_ARGS
from bench.common.processes import REPO_ROOT, ServiceProcess, serving, wait_until

ADMIN_TOKEN = re.compile(r"Admin token for this run:\s*(\S+)")
WAIT_MS = 15_000
MISSION = "li[data-mission='nato-mission-iraq']"


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("TIMELINE_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def launched_chromium() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Demo:
    """A ``serve --demo`` process, its admin token, and what one test's page requested and logged."""

    server: ServiceProcess
    token: str
    shots: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def for_one_test(self) -> Demo:
        """The same server with nothing requested or logged yet."""
        return replace(self, requests=[], console_errors=[])

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", headers=self.auth, params=params, timeout=15.0)
        assert response.status_code == 200, response.text
        return response.json()

    def fact_id(self, actor: str, type_: str) -> str:
        items = self.api(f"/v1/actors/{actor}/timeline", type=type_)["items"]
        assert items, f"no {type_} for {actor}"
        return str(items[0]["event_id"])


@contextmanager
def demo_server(database_url: str, log_path: Path) -> Iterator[Demo]:
    with serving(database_url, "", log_path, "--demo") as server:
        found = wait_until(lambda: ADMIN_TOKEN.search(server.output()), 10, what="the demo token in the log")
        running = Demo(server, found.group(1), artifacts_dir())
        # The demo facts are recorded before the server starts; wait until the read models have them.
        wait_until(
            lambda: any(a["id"] == "nato" for a in running.api("/v1/actors", limit=1000)["items"]),
            20,
            interval=0.1,
            what="the demo actors in the read models",
        )
        yield running


@contextmanager
def watched_page(browser: Any, demo: Demo) -> Iterator[Any]:
    """A page in a context of its own, recording its requests and console errors in ``demo``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.on("request", lambda r: demo.requests.append(r.url))
    opened.on("console", lambda m: demo.console_errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: demo.console_errors.append(f"uncaught: {e}"))
    try:
        yield opened
    finally:
        context.close()


def shot(page: Any, demo: Demo, request: pytest.FixtureRequest, step: str) -> None:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    page.screenshot(path=str(demo.shots / f"{name}--{step}.png"), full_page=True)


def only_own_host(demo: Demo) -> None:
    """Every request the page made went to the server under test (or was a data: URL)."""
    assert demo.requests, "the page made no request at all"
    strangers = [url for url in demo.requests if not url.startswith(f"{demo.base}/") and not url.startswith("data:")]
    assert strangers == []


def lanes_drawn(page: Any) -> None:
    """The lanes and the fact list drawn for the view the URL now holds: ``data-lanes`` says the
    first drawing happened, and stays; ``aria-busy`` is true from a view's change (set at once, by
    the same handler that rewrites the URL) until its lanes are drawn."""
    page.wait_for_selector("body[data-lanes='drawn'] #lanes:not([aria-busy='true'])", timeout=WAIT_MS)


def state_at(page: Any, day: str) -> None:
    page.wait_for_selector(f"#state-panel[data-at='{day}']", timeout=WAIT_MS)


def mission_status(page: Any) -> str:
    return str(page.locator(f"#state-panel section[data-actor='nato'] {MISSION}").get_attribute("data-status"))


def nato_mission_text(page: Any) -> str:
    found = page.locator(f"#state-panel section[data-actor='nato'] {MISSION}")
    return str(found.inner_text()) if found.count() else ""


def fact_left_the_url(page: Any) -> None:
    """The dialog closed and its ``close`` event (which runs after ``open`` turns false) updated the URL."""
    page.wait_for_function(
        "() => !document.getElementById('fact-dialog').open && !new URLSearchParams(location.search).has('fact')",
        timeout=WAIT_MS,
    )


def view_params(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def policy_violations(page: Any, demo: Demo) -> list[str]:
    """What the Content-Security-Policy blocked on the page, as events and as console lines."""
    reported = [line for line in demo.console_errors if "Content Security Policy" in line]
    return [*page.evaluate("window.__violations"), *reported]
