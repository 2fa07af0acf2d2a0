"""The web timeline at ``/`` in a real browser: Debian's chromium driven by Playwright.

Each case starts ``python -m service serve --demo`` on both backends, loads the page and
checks what a user sees. Screenshots of every step go to ``test-artifacts/screenshots/``
(``TIMELINE_TEST_ARTIFACTS`` names another folder).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bench.common.processes import REPO_ROOT, ServiceProcess, serving, wait_until

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = re.compile(r"Admin token for this run:\s*(\S+)")
WAIT_MS = 15_000
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
MISSION = "li[data-mission='nato-mission-iraq']"


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("TIMELINE_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", headers=self.auth, params=params, timeout=15.0)
        assert response.status_code == 200, response.text
        return response.json()

    def fact_id(self, actor: str, type_: str) -> str:
        items = self.api(f"/v1/actors/{actor}/timeline", type=type_)["items"]
        assert items, f"no {type_} for {actor}"
        return str(items[0]["event_id"])


@pytest.fixture
def demo(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    with serving(database_url, "", tmp_path / "serve.log", "--demo") as server:
        found = wait_until(lambda: ADMIN_TOKEN.search(server.output()), 10, what="the demo token in the log")
        running = Demo(server, found.group(1), artifacts_dir())
        # The demo facts are recorded before the server starts; wait until the read models have them.
        wait_until(
            lambda: any(a["id"] == "nato" for a in running.api("/v1/actors", limit=1000)["items"]),
            20, interval=0.1, what="the demo actors in the read models",
        )
        yield running


@pytest.fixture
def page(browser: Any, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Any]:
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
    page.wait_for_selector("body[data-lanes='drawn']", timeout=WAIT_MS)


def state_at(page: Any, day: str) -> None:
    page.wait_for_selector(f"#state-panel[data-at='{day}']", timeout=WAIT_MS)


def mission_status(page: Any) -> str:
    return str(page.locator(f"#state-panel section[data-actor='nato'] {MISSION}").get_attribute("data-status"))


def fact_left_the_url(page: Any) -> None:
    """The dialog closed and its ``close`` event (which runs after ``open`` turns false) updated the URL."""
    page.wait_for_function(
        "() => !document.getElementById('fact-dialog').open && !new URLSearchParams(location.search).has('fact')",
        timeout=WAIT_MS,
    )


def view_params(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


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


def test_a_corrected_fact_shows_its_revision_history(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    event_id = demo.fact_id("nato", "MissionSuspended")
    reason = "The alliance gave a smaller figure"
    corrected = httpx.post(
        f"{demo.base}/v1/events/{event_id}/corrections",
        json={"changes": {"summary": "NATO suspends its 450-strong training mission in Iraq", "personnel": 450},
              "reason": reason},
        headers=demo.auth, timeout=15.0,
    )
    assert corrected.status_code == 201, corrected.text
    position = corrected.json()["change_position"]
    demo.api("/v1/actors/nato/timeline", min_position=position)

    page.goto(f"{demo.base}/?actors=nato,iraq#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    button = page.locator(f"#fact-list button[data-event-id='{event_id}']")
    assert "450-strong" in button.inner_text()
    button.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#fact-dialog")
    page.wait_for_selector("#revisions tbody tr[data-revision='2']", timeout=WAIT_MS)
    assert dialog.locator("#fact-title").inner_text() == "NATO suspends its 450-strong training mission in Iraq"
    rows = dialog.locator("#revisions tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-kind") == "recorded"
    assert rows.nth(1).get_attribute("data-kind") == "corrected"
    assert rows.nth(1).locator(".reason").inner_text() == reason
    changes = rows.nth(1).locator(".changes").inner_text()
    assert "500" in changes and "450" in changes  # old → new
    body = dialog.inner_text()
    assert "Al Jazeera" in body and "precision: day" in body and "suspended its training mission" in body
    assert view_params(page)["fact"] == event_id
    shot(page, demo, request, "revisions")

    page.keyboard.press("Escape")
    fact_left_the_url(page)
    # Focus went back to the row that opened the fact.
    assert page.evaluate("() => document.activeElement.dataset.eventId") == event_id
    assert demo.console_errors == []
    only_own_host(demo)


def test_a_deep_link_restores_the_view(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    event_id = demo.fact_id("canada", "PersonnelRepositioned")
    query = f"actors=nato,canada&types=PersonnelRepositioned,MissionSuspended&date=2020-01-05" \
            f"&from=2019-12-30T00:00:00Z&to=2020-01-09T00:00:00Z&fact={event_id}"
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
    page.goto(f"{demo.base}/?actors=nato&date=2020-02-30&as_of=yesterday&reported_by=2020-13-01"
              f"#token={demo.token}", timeout=WAIT_MS)
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


VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def policy_violations(page: Any, demo: Demo) -> list[str]:
    """What the Content-Security-Policy blocked on the page, as events and as console lines."""
    reported = [line for line in demo.console_errors if "Content Security Policy" in line]
    return [*page.evaluate("window.__violations"), *reported]


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


def nato_mission_text(page: Any) -> str:
    found = page.locator(f"#state-panel section[data-actor='nato'] {MISSION}")
    return str(found.inner_text()) if found.count() else ""


def test_the_time_axis_switches_show_the_record_as_it_was(
    page: Any, demo: Demo, request: pytest.FixtureRequest
) -> None:
    event_id = demo.fact_id("nato", "MissionSuspended")
    # The as_of field takes whole seconds: keep the correction more than a second after the fact
    # was recorded, so that a second that falls between the two exists.
    recorded = datetime.fromisoformat(demo.api(f"/v1/events/{event_id}")["recorded_at"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (recorded + timedelta(seconds=1.2) - datetime.now(UTC)).total_seconds()))
    corrected = httpx.post(
        f"{demo.base}/v1/events/{event_id}/corrections",
        json={"changes": {"personnel": 450}, "reason": "The alliance gave a smaller figure"},
        headers=demo.auth, timeout=15.0,
    )
    assert corrected.status_code == 201, corrected.text
    revisions = demo.api(f"/v1/events/{event_id}", min_position=corrected.json()["change_position"])["revisions"]
    corrected_at = datetime.fromisoformat(revisions[1]["recorded_at"].replace("Z", "+00:00"))

    page.goto(f"{demo.base}/?actors=nato,us&date=2020-01-05#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-05")
    assert "450 personnel" in nato_mission_text(page)

    # As of the whole second before the correction, the service said 500.
    page.uncheck("#asof-now")
    before = corrected_at.strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#asof-input", before)
    page.dispatch_event("#asof-input", "change")
    page.wait_for_function("() => new URLSearchParams(location.search).has('as_of')", timeout=WAIT_MS)
    page.wait_for_function(
        "() => (document.querySelector(\"#state-panel section[data-actor='nato'] li[data-mission]\")"
        " || {}).innerText?.includes('500 personnel')", timeout=WAIT_MS,
    )
    shot(page, demo, request, "as-of-before-the-correction")

    # Back to now, then only what had been reported by 3 January: NATO's suspension was public on the 4th.
    page.check("#asof-now")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('as_of')", timeout=WAIT_MS)
    page.check("#reported-on")
    page.fill("#reported-input", "2020-01-03")
    page.dispatch_event("#reported-input", "change")
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('reported_by') === '2020-01-03'", timeout=WAIT_MS
    )
    page.wait_for_function(
        "() => !document.querySelector(\"#state-panel section[data-actor='nato'] li[data-mission]\")",
        timeout=WAIT_MS,
    )
    listed = page.locator("#fact-list").inner_text()
    assert "Qasem Soleimani" in listed  # the strike was reported on the 3rd
    assert "suspends its" not in listed
    shot(page, demo, request, "reported-by-2020-01-03")

    page.uncheck("#reported-on")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('reported_by')", timeout=WAIT_MS)
    page.wait_for_function(
        "() => (document.querySelector(\"#state-panel section[data-actor='nato'] li[data-mission]\")"
        " || {}).innerText?.includes('450 personnel')", timeout=WAIT_MS,
    )
    assert demo.console_errors == []
    only_own_host(demo)


# WCAG 2.1 contrast, measured on what the browser computed: text against the first opaque
# background behind it (4.5:1, or 3:1 for large text), SVG text and fact marks against both lane
# stripes (4.5:1 and 3:1, non-text contrast). Disabled controls are exempt, as WCAG allows.
CONTRAST_PROBE = """(scope) => {
  const rgba = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const over = (top, under) => {
    const a = top.length > 3 ? top[3] : 1;
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a));
  };
  const backdrop = (node) => {
    const layers = [];
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c.length > 3 && c[3] === 0) continue;
      layers.push(c);
      if (c.length === 3 || c[3] === 1) break;
    }
    return layers.reduceRight((under, top) => over(top, under), [255, 255, 255]);
  };
  const visible = (n) => n.getClientRects().length > 0 && getComputedStyle(n).visibility !== "hidden";
  const stripes = [...new Set([...document.querySelectorAll("#lanes-svg .lane-bg")]
    .map((r) => getComputedStyle(r).fill))].map(rgba);
  const failures = [];
  let checked = 0;
  const root = document.querySelector(scope);
  for (const n of root.querySelectorAll("*")) {
    if (!visible(n) || n.closest(":disabled, .sr-only, title")) continue;
    const ownText = [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    const style = getComputedStyle(n);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const say = (what, got, need) => failures.push(
      `${what} <${n.tagName.toLowerCase()}${n.id ? "#" + n.id : ""}${[...n.classList].map((c) => "." + c).join("")}>` +
      ` "${(n.textContent || "").trim().slice(0, 30)}": ${got.toFixed(2)} < ${need}`);
    if (n instanceof SVGElement) {
      const isText = n.tagName === "text" && ownText;
      if (!isText && !n.classList.contains("mark")) continue;
      const need = isText ? (large ? 3 : 4.5) : 3;
      for (const s of stripes) {
        checked++;
        const got = ratio(rgba(style.fill), s);
        if (got < need) say(isText ? "svg text" : "mark", got, need);
      }
      continue;
    }
    if (!ownText && !(n.matches("input:not([type=checkbox]):not([type=range]), select") && n.value)) continue;
    checked++;
    const need = large ? 3 : 4.5;
    const got = ratio(over(rgba(style.color), backdrop(n)), backdrop(n));
    if (got < need) say("text", got, need);
  }
  return { checked, failures };
}"""


def contrast_failures(page: Any, scope: str) -> list[str]:
    found = page.evaluate(CONTRAST_PROBE, scope)
    assert found["checked"] > 10, f"the contrast probe found almost nothing to check in {scope}"
    return list(found["failures"])


def test_text_and_marks_meet_wcag_contrast(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    event_id = demo.fact_id("nato", "MissionSuspended")
    corrected = httpx.post(
        f"{demo.base}/v1/events/{event_id}/corrections",
        json={"changes": {"personnel": 450}, "reason": "The alliance gave a smaller figure"},
        headers=demo.auth, timeout=15.0,
    )
    assert corrected.status_code == 201, corrected.text
    demo.api(f"/v1/events/{event_id}", min_position=corrected.json()["change_position"])

    page.goto(f"{demo.base}/?actors=nato,us,canada,iraq&date=2020-01-05#token={demo.token}", timeout=WAIT_MS)
    lanes_drawn(page)
    state_at(page, "2020-01-05")
    assert page.locator("#lanes-svg .mark").count() >= 6
    assert contrast_failures(page, "body") == []

    # The fact's detail: revision history with its struck-out and inserted values.
    page.locator(f"#fact-list button[data-event-id='{event_id}']").click()
    page.wait_for_selector("#revisions tbody tr[data-revision='2']", timeout=WAIT_MS)
    shot(page, demo, request, "detail")
    assert contrast_failures(page, "#fact-dialog") == []
    assert demo.console_errors == []
