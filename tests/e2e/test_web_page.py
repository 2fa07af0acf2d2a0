"""The web timeline at ``/`` in a real browser: Debian's chromium driven by Playwright.

The page over ``python -m service serve --demo``, on both backends, as a user sees it. None
of these tests writes: they share one server per backend (tests/support/browser.py holds the
browser, the server and the checks). The tests that correct a fact first are in
test_web_page_corrections.py, on a server each. Screenshots of every step go to
``test-artifacts/screenshots/`` (``TIMELINE_TEST_ARTIFACTS`` names another folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.support.browser import (
    VIOLATIONS,
    WAIT_MS,
    Demo,
    demo_server,
    fact_left_the_url,
    lanes_drawn,
    mission_status,
    only_own_host,
    policy_violations,
    shot,
    state_at,
    view_params,
)
from tests.support.marks import BROWSER

pytestmark = [pytest.mark.e2e, BROWSER]


@pytest.fixture(scope="module")
def shared_demo(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_server(module_database_url, tmp_path_factory.mktemp("web") / "serve.log") as running:
        yield running


@pytest.fixture
def demo(shared_demo: Demo) -> Demo:
    return shared_demo.for_one_test()


def test_page_loads_the_demo_data_with_lanes(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    page.goto(f"{demo.base}/#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-07")
    lanes = page.locator("#lanes-svg g.lane").evaluate_all("gs => gs.map(g => g.dataset.actor)")
    assert {"nato", "us", "iraq", "canada"} <= set(lanes)
    assert len(lanes) <= 8
    assert page.locator("#lanes-svg g.lane[data-actor='nato'] .mark").count() >= 1
    assert page.locator("#fact-list button").count() >= 10
    # The token left the address bar (and never went to the query string).
    assert "token" not in page.url
    assert all("token=" not in url for url in demo.requests)
    assert page.locator("#date-slider").get_attribute("aria-valuetext") == "Tue 7 Jan 2020"
    assert page.locator("label[for='date-slider']").inner_text() == "Date"
    shot(page, demo, request, "loaded")

    # Keyboard on the lanes: + zooms in, the window in the URL narrows.
    before = view_params(page)
    page.focus("#lanes")
    page.keyboard.press("+")
    page.wait_for_function(f"() => !location.search.includes({before['from']!r})", timeout=WAIT_MS)
    lanes_drawn(page)
    shot(page, demo, request, "zoomed")
    assert demo.console_errors == []
    only_own_host(demo)


def test_slider_shows_nato_suspending_its_mission(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    page.goto(f"{demo.base}/?actors=nato,us,canada&date=2020-01-03#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-03")
    assert mission_status(page) == "active"
    shot(page, demo, request, "2020-01-03")

    slider = page.locator("#date-slider")
    slider.focus()
    page.keyboard.press("ArrowRight")
    state_at(page, "2020-01-04")
    assert mission_status(page) == "suspended"
    page.keyboard.press("ArrowRight")
    state_at(page, "2020-01-05")
    assert mission_status(page) == "suspended"
    assert page.locator("#date-shown").inner_text() == "Sun 5 Jan 2020"
    assert view_params(page)["date"] == "2020-01-05"
    shot(page, demo, request, "2020-01-05")

    # Dragging fast across the date (many input events): the last answer wins.
    first_day = date.fromisoformat(str(page.locator("#date-input").get_attribute("min")))
    for day in ("2020-01-01", "2020-01-02", "2020-01-06", "2020-01-02", "2020-01-03"):
        slider.fill(str((date.fromisoformat(day) - first_day).days))
    state_at(page, "2020-01-03")
    assert mission_status(page) == "active"
    # The typed date moves the slider too.
    page.fill("#date-input", "2020-01-06")
    page.locator("#date-input").dispatch_event("change")
    state_at(page, "2020-01-06")
    assert mission_status(page) == "suspended"
    assert page.locator("#state-panel section[data-actor='us'] li[data-location='IQ']").inner_text() == "Iraq: 5200"
    assert demo.console_errors == []
    only_own_host(demo)


def test_a_deep_link_restores_the_view(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    event_id = demo.fact_id("canada", "PersonnelRepositioned")
    query = (
        f"actors=nato,canada&types=PersonnelRepositioned,MissionSuspended&date=2020-01-05"
        f"&from=2019-12-30T00:00:00Z&to=2020-01-09T00:00:00Z&fact={event_id}"
    )
    page.goto(f"{demo.base}/?{query}#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-05")
    page.wait_for_selector(f"#fact-body[data-event-id='{event_id}']", timeout=WAIT_MS)
    assert page.locator("#fact-dialog").evaluate("d => d.open")
    shot(page, demo, request, "restored")
    lanes = page.locator("#lanes-svg g.lane").evaluate_all("gs => gs.map(g => g.dataset.actor)")
    assert lanes == ["nato", "canada"]
    assert page.locator("#actor-nato").is_checked() and page.locator("#actor-canada").is_checked()
    assert not page.locator("#actor-us").is_checked()
    assert not page.locator("#type-StatementIssued").is_checked()
    assert page.locator("#date-input").input_value() == "2020-01-05"
    assert page.locator("#window-label").inner_text() == "2019-12-30 to 2020-01-09"
    assert mission_status(page) == "suspended"
    kinds = page.locator("#fact-list .kind").all_inner_texts()
    assert kinds and set(kinds) <= {"Personnel repositioned", "Mission suspended"}

    # Back and forward: closing the fact is a step in the history.
    page.locator("#fact-close").click()
    fact_left_the_url(page)
    page.go_back(timeout=WAIT_MS)
    page.wait_for_function("() => document.getElementById('fact-dialog').open", timeout=WAIT_MS)
    page.wait_for_selector(f"#fact-body[data-event-id='{event_id}']", timeout=WAIT_MS)
    shot(page, demo, request, "back")
    assert demo.console_errors == []
    only_own_host(demo)


def test_a_link_with_values_the_api_refuses_opens_without_them(
    page: Any, demo: Demo, request: pytest.FixtureRequest
) -> None:
    page.goto(
        f"{demo.base}/?actors=nato&date=2020-02-30&as_of=yesterday&reported_by=2020-13-01#token={demo.token}",
        timeout=WAIT_MS,
    )
    lanes_drawn(page)
    state_at(page, "2020-01-07")  # the last day with facts, as with no date at all
    assert mission_status(page) == "suspended"
    assert page.locator("#asof-now").is_checked() and not page.locator("#reported-on").is_checked()
    params = view_params(page)
    assert params["date"] == "2020-01-07" and "as_of" not in params and "reported_by" not in params
    shot(page, demo, request, "cleaned")

    # A day for as_of is the end of that day, as in the API; an offset is turned into UTC.
    page.goto(f"{demo.base}/?actors=nato&date=2020-01-05&as_of=2020-01-04#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-05")
    assert page.locator("#asof-input").input_value() == "2020-01-04T23:59:59"
    assert view_params(page)["as_of"] == "2020-01-04T23:59:59.999999Z"
    page.goto(f"{demo.base}/?actors=nato&as_of=2020-01-04T12:00:00%2B02:00#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    assert view_params(page)["as_of"] == "2020-01-04T10:00:00Z"
    assert page.locator("#asof-input").input_value().startswith("2020-01-04T10:00")
    assert demo.console_errors == []
    only_own_host(demo)


def test_without_a_token_the_page_asks_for_one(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    page.goto(f"{demo.base}/", timeout=WAIT_MS)
    page.wait_for_selector("#token-box:not([hidden])", timeout=WAIT_MS)
    assert "token" in page.locator("#status").inner_text().lower()
    assert page.evaluate("() => document.activeElement.id") == "token-input"
    shot(page, demo, request, "asks")

    page.fill("#token-input", "not-the-token")
    page.press("#token-input", "Enter")
    page.wait_for_selector("#token-reason:has-text('refused')", timeout=WAIT_MS)
    page.fill("#token-input", demo.token)
    page.press("#token-input", "Enter")
    lanes_drawn(page)
    assert page.locator("#token-box").is_hidden()
    assert page.locator("#lanes-svg g.lane[data-actor='nato']").count() == 1
    shot(page, demo, request, "after-token")
    # Only the 401s are logged by the browser.
    assert all("401" in message for message in demo.console_errors), demo.console_errors
    only_own_host(demo)


def test_the_page_is_served_with_a_self_only_policy(demo: Demo) -> None:
    page = httpx.get(f"{demo.base}/", timeout=10.0)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "http" not in policy
    assert page.headers["cache-control"] == "no-cache"
    script = httpx.get(f"{demo.base}/static/app.js", timeout=10.0)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "etag" in script.headers
    # Nothing in the shipped files loads from elsewhere.
    for name in ("index.html", "app.js", "style.css"):
        text = httpx.get(f"{demo.base}/static/{name}", timeout=10.0).text
        assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text), name
        assert "@import" not in text and "cdn" not in text.lower(), name


def test_the_page_runs_under_its_policy_without_a_violation(
    page: Any, demo: Demo, request: pytest.FixtureRequest
) -> None:
    page.add_init_script(VIOLATIONS)
    page.goto(f"{demo.base}/#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-07")
    page.locator("#fact-list button").first.click()
    page.wait_for_selector("#fact-dialog[open] #fact-body *", timeout=WAIT_MS)
    shot(page, demo, request, "fact-open")
    assert policy_violations(page, demo) == []
    assert demo.console_errors == []
    only_own_host(demo)


def test_the_api_docs_load_from_the_service_alone(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    page.add_init_script(VIOLATIONS)
    page.goto(f"{demo.base}/docs", timeout=WAIT_MS)
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/events']", timeout=WAIT_MS)
    page.locator(".opblock-summary-path[data-path='/v1/events']").first.click()
    page.wait_for_selector(".opblock.is-open .parameters-container, .opblock.is-open .opblock-description-wrapper")
    shot(page, demo, request, "docs")
    assert f"{demo.base}/openapi.json" in demo.requests
    assert policy_violations(page, demo) == []
    assert demo.console_errors == []
    only_own_host(demo)
