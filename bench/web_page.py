"""The web timeline over a large store, in headless Chromium: time to first lanes, slider latency.

    .venv/bin/python -m bench.web_page [--facts 100000] [--actors 1000] [--moves 30]

Records N synthetic facts (the generator of ``bench.state_query``: Zipf-like actor popularity,
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
import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.append_http import free_port
from bench.state_query import Generator
from service.bootstrap import bootstrap
from service.domain.facts import validate_fact
from service.settings import Settings

TOKEN = "bench-web-token"
REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
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


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load(url: str, facts: int, actors: int, seed: int) -> None:
    container = bootstrap(Settings(database_url=url, api_tokens=f"{TOKEN}:read", _env_file=None))
    try:
        gen = Generator(actors, seed, 1.0)
        t0 = time.perf_counter()
        for start in range(0, facts, 1000):
            batch = [validate_fact(gen.fact(i)[0]) for i in range(start, min(facts, start + 1000))]
            container.store.record_facts(batch)
            if (start + 1000) % 20000 == 0:
                say(f"  recorded {start + 1000}/{facts}")
        say(f"  recorded {facts} facts in {time.perf_counter() - t0:.1f} s; catching up the read models ...")
        t0 = time.perf_counter()
        container.read_models.catch_up()
        say(f"  read models caught up in {time.perf_counter() - t0:.1f} s")
    finally:
        container.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=1000)
    parser.add_argument("--moves", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        say("Debian's chromium is not installed (apt-get install chromium).")
        return 2
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-web-page-"))
    server = None
    try:
        url = f"sqlite:///{folder / 'timeline.sqlite3'}"
        say(f"Loading {args.facts} facts over {args.actors} actors into {folder} ...")
        load(url, args.facts, args.actors, args.seed)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIMELINE_")}
        env.update(TIMELINE_DATABASE_URL=url, TIMELINE_API_TOKENS=f"{TOKEN}:read", TIMELINE_LOG_LEVEL="warning",
                   PYTHONPATH=str(REPO))
        with open(folder / "serve.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "service", "serve", "--port", str(port)], env=env,
                                      cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                say((folder / "serve.log").read_text(errors="replace"))
                return 1
            time.sleep(0.1)
        stats = httpx.get(f"{base}/v1/stats", params={"by": "month"}, headers={"Authorization": f"Bearer {TOKEN}"})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            t0 = time.perf_counter()
            page.goto(f"{base}/#token={TOKEN}")
            page.wait_for_selector("body[data-lanes='drawn']")
            wall = time.perf_counter() - t0
            first_ms = float(page.evaluate("() => document.body.dataset.firstLanesMs"))
            page.wait_for_selector("#state-panel[data-at]")
            lanes = page.locator("#lanes-svg g.lane").count()
            marks = page.locator("#lanes-svg .mark").count()
            strips = page.locator("#lanes-svg g.lane").evaluate_all(
                "gs => gs.filter(g => g.querySelector('.density')).length")
            span_min = dt.date.fromisoformat(str(page.locator("#date-input").get_attribute("min")))
            span_max = dt.date.fromisoformat(str(page.locator("#date-input").get_attribute("max")))
            rng = random.Random(args.seed)
            days = (span_max - span_min).days
            lane_actors = page.locator("#lanes-svg g.lane").evaluate_all("gs => gs.map(g => g.dataset.actor)")
            latencies = []
            moved: list[str] = []
            current = page.locator("#date-input").input_value()
            for _ in range(args.moves):
                offset = rng.randrange(days + 1)
                day = (span_min + dt.timedelta(days=offset)).isoformat()
                if day == current:
                    continue
                latencies.append(float(page.evaluate(MOVE_JS, [str(offset), day])))
                moved.append(day)
                current = day
                page.wait_for_timeout(250)
            nodes = page.evaluate("() => document.getElementsByTagName('*').length")
            # The whole span: the busiest lanes become density strips.
            t0 = time.perf_counter()
            page.evaluate("() => { delete document.body.dataset.lanes; }")
            page.click("#fit")
            try:
                page.wait_for_selector("body[data-lanes='drawn']", state="attached")
            except Exception:
                say(f"lanes not drawn after 'Fit all': {page.locator('#status').inner_text()}")
                raise
            fit_ms = (time.perf_counter() - t0) * 1000
            fit_strips = page.locator("#lanes-svg g.lane").evaluate_all(
                "gs => gs.filter(g => g.querySelector('.density')).length")
            fit_nodes = page.evaluate("() => document.getElementsByTagName('*').length")
            browser.close()
        # Baseline, same run: the state request the page makes for each move, sent directly.
        direct = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
            for day in moved:
                t0 = time.perf_counter()
                client.get("/v1/state", params={"at": day, "actor": ",".join(lane_actors)}).raise_for_status()
                direct.append((time.perf_counter() - t0) * 1000)
        print(f"web page over {args.facts} facts, {args.actors} actors (SQLite, one server process)")
        print(f"  /v1/stats available: {stats.status_code == 200} (HTTP {stats.status_code}); dense lanes "
              f"{'use it' if stats.status_code == 200 else 'fall back to 3 timeline pages binned in the page'}")
        print(f"  first lanes drawn: {first_ms:.0f} ms after navigation start ({wall * 1000:.0f} ms wall, from goto)")
        print(f"  lanes: {lanes}, marks drawn: {marks}, lanes drawn as density strips: {strips}, DOM elements: {nodes}")
        print(f"  slider update latency over {len(latencies)} moves: p50 {statistics.median(latencies):.0f} ms, "
              f"p95 {pct(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms")
        print(f"  baseline, the same GET /v1/state sent directly: p50 {statistics.median(direct):.0f} ms, "
              f"p95 {pct(direct, 0.95):.0f} ms (the page adds p50 "
              f"{statistics.median(latencies) - statistics.median(direct):.0f} ms: throttle, rendering, fetch)")
        print(f"  'Fit all' (the whole span) redrawn in {fit_ms:.0f} ms; density strips: {fit_strips}, "
              f"DOM elements: {fit_nodes}")
        print(f"  console errors: {len(errors)}{' — ' + errors[0] if errors else ''}")
        return 0
    finally:
        if server is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # the server leads its own process group
            server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
