"""The web timeline over a large store, in headless Chromium: time to first lanes, slider latency.

    .venv/bin/python -m bench.targets.web_page [--facts 100000] [--actors 1000] [--moves 30]

Records N synthetic facts (the generator of ``bench.common.dataset``: Zipf-like actor popularity,
two years) into a temporary SQLite file through ``store.record_facts`` in batches of 1000,
catches the read models up, serves it with ``python -m service serve``, opens ``/`` in Debian's
chromium (Playwright, ``executable_path``) and prints:

* the time from navigation to the first lanes drawn (the page's default: the 8 busiest actors,
  the last month of data; dense lanes become density strips);
* the slider's update latency, p50/p95 over ``--moves`` moves to random days (each move sets the
  range input and waits until the state panel shows that day; moves are 250 ms apart, so the
  page's 100 ms throttle does not add to them);
* the DOM size of the page afterwards.

Figures only, no assertions on time. Everything runs in a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common.browser import CHROMIUM_ARGS
from bench.common.dataset import BATCH, Generator
from bench.common.processes import serving
from bench.common.stats import pct, progress
from service.bootstrap import bootstrap
from service.domain.facts import validate_fact
from service.settings import Settings

TOKEN = "bench-web-token"
MOVE_JS = """async ([value, day]) => {
  const t0 = performance.now();
  const slider = document.getElementById('date-slider');
  slider.value = value;
  slider.dispatchEvent(new Event('input', {bubbles: true}));
  await new Promise((resolve, reject) => {
    const give_up = setTimeout(() => reject(new Error('no state for ' + day)), 20000);
    const check = () => {
      if (document.getElementById('state-panel').dataset.at === day) { clearTimeout(give_up); resolve(); }
      else requestAnimationFrame(check);
    };
    check();
  });
  return performance.now() - t0;
}"""


def load(url: str, facts: int, actors: int, seed: int) -> None:
    container = bootstrap(Settings(database_url=url, api_tokens=f"{TOKEN}:read", _env_file=None))  # type: ignore[call-arg]
    try:
        gen = Generator(actors, seed, 1.0)
        t0 = time.perf_counter()
        for start in range(0, facts, BATCH):
            batch = [validate_fact(gen.fact(i)[0]) for i in range(start, min(facts, start + BATCH))]
            container.store.record_facts(batch)
            if (start + BATCH) % 20000 == 0:
                progress(f"  recorded {start + BATCH}/{facts}")
        progress(f"  recorded {facts} facts in {time.perf_counter() - t0:.1f} s; catching up the read models ...")
        t0 = time.perf_counter()
        container.read_models.catch_up()
        progress(f"  read models caught up in {time.perf_counter() - t0:.1f} s")
    finally:
        container.close()


def open_page(playwright: Any, chromium: str, base: str) -> tuple[Any, Any, list[str]]:
    """(browser, page, console errors) with the page's first lanes drawn."""
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return browser, page, errors


def first_lanes(page: Any, base: str) -> dict[str, Any]:
    """Navigation to the first lanes drawn, and what they hold."""
    t0 = time.perf_counter()
    page.goto(f"{base}/#token={TOKEN}")
    page.wait_for_selector("body[data-lanes='drawn']")
    wall = time.perf_counter() - t0
    first_ms = float(page.evaluate("() => document.body.dataset.firstLanesMs"))
    page.wait_for_selector("#state-panel[data-at]")
    return {
        "wall": wall,
        "first_ms": first_ms,
        "lanes": page.locator("#lanes-svg g.lane").count(),
        "marks": page.locator("#lanes-svg .mark").count(),
        "strips": page.locator("#lanes-svg g.lane").evaluate_all(
            "gs => gs.filter(g => g.querySelector('.density')).length"
        ),
        "lane_actors": page.locator("#lanes-svg g.lane").evaluate_all("gs => gs.map(g => g.dataset.actor)"),
    }


def slider_moves(page: Any, moves: int, seed: int) -> tuple[list[float], list[str]]:
    """``moves`` moves of the date slider to random days: each one's latency (ms) and day."""
    span_min = dt.date.fromisoformat(str(page.locator("#date-input").get_attribute("min")))
    span_max = dt.date.fromisoformat(str(page.locator("#date-input").get_attribute("max")))
    rng = random.Random(seed)
    days = (span_max - span_min).days
    latencies: list[float] = []
    moved: list[str] = []
    current = page.locator("#date-input").input_value()
    for _ in range(moves):
        offset = rng.randrange(days + 1)
        day = (span_min + dt.timedelta(days=offset)).isoformat()
        if day == current:
            continue
        latencies.append(float(page.evaluate(MOVE_JS, [str(offset), day])))
        moved.append(day)
        current = day
        page.wait_for_timeout(250)
    return latencies, moved


def fit_all(page: Any) -> dict[str, Any]:
    """'Fit all', the whole span: the busiest lanes become density strips."""
    t0 = time.perf_counter()
    page.evaluate("() => { delete document.body.dataset.lanes; }")
    page.click("#fit")
    try:
        page.wait_for_selector("body[data-lanes='drawn']", state="attached")
    except Exception:
        progress(f"lanes not drawn after 'Fit all': {page.locator('#status').inner_text()}")
        raise
    return {
        "fit_ms": (time.perf_counter() - t0) * 1000,
        "fit_strips": page.locator("#lanes-svg g.lane").evaluate_all(
            "gs => gs.filter(g => g.querySelector('.density')).length"
        ),
        "fit_nodes": page.evaluate("() => document.getElementsByTagName('*').length"),
    }


def direct_state(base: str, days: list[str], actors: list[str]) -> list[float]:
    """Baseline, same run: the state request the page makes for each move, sent directly (ms)."""
    direct = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for day in days:
            t0 = time.perf_counter()
            client.get("/v1/state", params={"at": day, "actor": ",".join(actors)}).raise_for_status()
            direct.append((time.perf_counter() - t0) * 1000)
    return direct


def run(chromium: str, folder: Path, facts: int, actors: int, moves: int, seed: int) -> dict[str, Any]:
    """The store loaded and served from ``folder``, the page driven in Chromium: its figures."""
    from playwright.sync_api import sync_playwright

    url = f"sqlite:///{folder / 'timeline.sqlite3'}"
    progress(f"Loading {facts} facts over {actors} actors into {folder} ...")
    load(url, facts, actors, seed)
    with serving(
        url, f"{TOKEN}:read", folder / "serve.log", timeout=60, extra_env={"TIMELINE_LOG_LEVEL": "warning"}
    ) as server:
        base = server.base_url
        stats = httpx.get(f"{base}/v1/stats", params={"by": "month"}, headers={"Authorization": f"Bearer {TOKEN}"})
        with sync_playwright() as playwright:
            browser, page, errors = open_page(playwright, chromium, base)
            figures = first_lanes(page, base)
            latencies, moved = slider_moves(page, moves, seed)
            figures["nodes"] = page.evaluate("() => document.getElementsByTagName('*').length")
            figures |= fit_all(page)
            browser.close()
        direct = direct_state(base, moved, figures["lane_actors"])
    return figures | {"stats_status": stats.status_code, "latencies": latencies, "direct": direct, "errors": errors}


def print_figures(args: argparse.Namespace, f: dict[str, Any]) -> None:
    latencies, direct = f["latencies"], f["direct"]
    print(f"web page over {args.facts} facts, {args.actors} actors (SQLite, one server process)")
    print(
        f"  /v1/stats available: {f['stats_status'] == 200} (HTTP {f['stats_status']}); dense lanes "
        f"{'use it' if f['stats_status'] == 200 else 'fall back to 3 timeline pages binned in the page'}"
    )
    print(
        f"  first lanes drawn: {f['first_ms']:.0f} ms after navigation start ({f['wall'] * 1000:.0f} ms wall, "
        "from goto)"
    )
    print(
        f"  lanes: {f['lanes']}, marks drawn: {f['marks']}, lanes drawn as density strips: {f['strips']}, "
        f"DOM elements: {f['nodes']}"
    )
    print(
        f"  slider update latency over {len(latencies)} moves: p50 {statistics.median(latencies):.0f} ms, "
        f"p95 {pct(latencies, 95):.0f} ms, max {max(latencies):.0f} ms"
    )
    print(
        f"  baseline, the same GET /v1/state sent directly: p50 {statistics.median(direct):.0f} ms, "
        f"p95 {pct(direct, 95):.0f} ms (the page adds p50 "
        f"{statistics.median(latencies) - statistics.median(direct):.0f} ms: throttle, rendering, fetch)"
    )
    print(
        f"  'Fit all' (the whole span) redrawn in {f['fit_ms']:.0f} ms; density strips: {f['fit_strips']}, "
        f"DOM elements: {f['fit_nodes']}"
    )
    errors = f["errors"]
    print(f"  console errors: {len(errors)}{' — ' + errors[0] if errors else ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.targets.web_page", description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=1000)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        progress("Debian's chromium is not installed (apt-get install chromium).")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-web-page-") as folder:
        print_figures(args, run(chromium, Path(folder), args.facts, args.actors, args.moves, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
