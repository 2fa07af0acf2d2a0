"""The web timeline after a fact was corrected, in a real browser (Debian's chromium, Playwright).

Each test corrects the demo's NATO suspension and then checks what the page shows of it, so
each gets a ``serve --demo`` of its own, on both backends (tests/support/browser.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import (
    WAIT_MS,
    Demo,
    demo_server,
    fact_left_the_url,
    lanes_drawn,
    nato_mission_text,
    only_own_host,
    shot,
    state_at,
    view_params,
)
from tests.support.marks import BROWSER

pytestmark = [pytest.mark.e2e, BROWSER]


@pytest.fixture
def demo(database_url: str, tmp_path: Path) -> Iterator[Demo]:
    with demo_server(database_url, tmp_path / "serve.log") as running:
        yield running


def test_a_corrected_fact_shows_its_revision_history(page: Any, demo: Demo, request: pytest.FixtureRequest) -> None:
    event_id = demo.fact_id("nato", "MissionSuspended")
    reason = "The alliance gave a smaller figure"
    corrected = httpx.post(
        f"{demo.base}/v1/events/{event_id}/corrections",
        json={
            "changes": {"summary": "NATO suspends its 450-strong training mission in Iraq", "personnel": 450},
            "reason": reason,
        },
        headers=demo.auth,
        timeout=15.0,
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
        headers=demo.auth,
        timeout=15.0,
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
        " || {}).innerText?.includes('500 personnel')",
        timeout=WAIT_MS,
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
    lanes_drawn(page)
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
        " || {}).innerText?.includes('450 personnel')",
        timeout=WAIT_MS,
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
        headers=demo.auth,
        timeout=15.0,
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
