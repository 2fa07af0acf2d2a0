"""Point-in-time reads over HTTP on the state store of targets 4 and 8: an actor's state and
timeline under wrk beside B3 (4l, 8a-8d), the server's memory (4m), ``serve --processes 2`` (8e),
whole-store counts and the actors list one request at a time (8f-8h), the web page's slider step
(8i) and a conditional GET (8j).

Every wrk row but 8j asks for a random ``at`` (or ``from``) per request, to the second, across the
two years the facts span: an in-process answer cache cannot serve the window. 8j repeats one
request by design."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench.common.dataset import END, START, iso, us
from bench.common.errors import BenchError
from bench.common.machine import proc_status_kib
from bench.common.processes import TOKEN, ServiceProcess, start_server, stop_server
from bench.common.stats import fmt_ms, mb, pct, progress
from bench.report import Figure
from bench.targets.context import Ctx
from bench.targets.http import Load, baseline_http, drive, get_script, random_at_script
from bench.targets.state_queries import StoreFacts

SMALL_STORE = 100_000  # the size of the "100k facts" HTTP rows (8a, 8b)
LANES = 8  # the web page's default lanes: the actors with the most facts (MAX_LANES_DEFAULT in app.js)
FIRST_S, LAST_S = us(START) // 10**6, us(END) // 10**6  # the facts' occurred span, in seconds


@dataclass
class Server:
    child: ServiceProcess
    base: str
    backend: str
    sf: StoreFacts

    def get(self, client: httpx.Client, path: str, **params: str) -> httpx.Response:
        try:
            # An empty params would replace the query the path carries (httpx), not add nothing to it.
            answer = client.get(self.base + path, params=params or None)
        except httpx.HTTPError as exc:
            raise BenchError(f"GET {path} {params}: {type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 400:
            raise BenchError(f"GET {path} {params} answered {answer.status_code}: {answer.text[:300]}")
        return answer


def client() -> httpx.Client:
    return httpx.Client(headers={"authorization": f"Bearer {TOKEN}"}, timeout=120, trust_env=False)


def serve(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts, label: str, processes: int = 1) -> Server:
    child, base = start_server(f"service-{backend} {label}", db_url, f"{TOKEN}:read", ctx.workdir, processes=processes)
    return Server(child, base, backend, sf)


def state_script(actor: str, seed: int) -> str:
    return random_at_script(f"/v1/actors/{actor}/state", "at", FIRST_S, LAST_S, TOKEN, seed)


def timeline_script(actor: str, seed: int) -> str:
    return random_at_script(f"/v1/actors/{actor}/timeline?limit=100", "from", FIRST_S, LAST_S, TOKEN, seed)


def wrk_row(
    ctx: Ctx, server: Server, key: str, label: str, script: str, sample: str, baseline: Load, name: str = "B3"
) -> tuple[Figure, Load]:
    """One wrk window of ``script`` (a random ``at`` or ``from`` per request); ``sample`` is a path
    of the same kind (checked first, and what bench.loadgen GETs when wrk is missing)."""
    varied = "from" if "from=" in sample else "at"
    with client() as http:
        server.get(http, sample)
    result = drive(
        ctx, server.child, server.base, f"{label}-{server.backend}", token=TOKEN, paths=[sample], script=script
    )
    if result.non2xx:
        ctx.note(f"{key} ({server.backend}): {result.non2xx} non-2xx answers")
    return Figure(key, result.rps, baseline.rps, name, f"{result.text()}; a random {varied} per request"), result


def small_store_rows(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts) -> list[Figure]:
    """8a and 8b, on the store as it stands at SMALL_STORE facts."""
    b3 = baseline_http(ctx, "B3")
    server = serve(ctx, backend, db_url, sf, "100k")
    try:
        state, _ = wrk_row(ctx, server, "8a", "state-100k", state_script(sf.median, 11), sample_state(sf.median), b3)
        timeline, _ = wrk_row(
            ctx, server, "8b", "timeline-100k", timeline_script(sf.median, 12), sample_timeline(sf.median), b3
        )
    finally:
        stop_server(server.child, ctx.report.notes)
    for f in (state, timeline):
        f.detail += f"; store of {sf.facts:,} facts, {sf.median} in {sf.median_facts:,}"
    return [state, timeline]


def sample_state(actor: str) -> str:
    return f"/v1/actors/{actor}/state?at=2020-01-05T12:00:00Z"


def sample_timeline(actor: str) -> str:
    return f"/v1/actors/{actor}/timeline?limit=100&from=2020-01-05T12:00:00Z"


def full_store_rows(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts, small: list[Figure] | None) -> list[Figure]:
    """4l and 4m; with target 8 the other rows too (8a and 8b are 4l's and 8c's figures when the
    store is no larger than SMALL_STORE, so ``small`` is None)."""
    b3 = baseline_http(ctx, "B3")
    with_8 = 8 in ctx.args.only
    server = serve(ctx, backend, db_url, sf, "state")
    try:
        state, load = wrk_row(ctx, server, "4l", "state", state_script(sf.median, 21), sample_state(sf.median), b3)
        rss_now = proc_status_kib(server.child.process.pid, "VmRSS")
        figures = [state, memory(load, rss_now)]
        if with_8:
            figures += read_rows(ctx, server, b3)
    finally:
        stop_server(server.child, ctx.report.notes)
    state.detail += f"; {sf.median} in {sf.median_facts:,} facts"
    if not with_8:
        return figures
    figures.append(processes_row(ctx, backend, db_url, sf, load))
    if small is None:
        by_key = {f.key: f for f in figures}
        for key, same in (("8a", "4l"), ("8b", "8c")):
            f = by_key[same]
            figures.append(
                Figure(key, f.value, f.baseline, f.baseline_name, f"the store of {same} ({sf.facts:,} facts)")
            )
    else:
        figures += small
    return figures


def memory(load: Load, rss_now: int | None) -> Figure:
    return Figure(
        "4m",
        mb(load.hwm_kib),
        detail=f"VmHWM {mb(load.hwm_kib) or 0:,.0f} MB (peak of the process's life); VmRSS highest "
        f"while serving {mb(load.max_rss_kib) or 0:,.0f} MB, after the window {mb(rss_now) or 0:,.0f} MB",
    )


def read_rows(ctx: Ctx, server: Server, b3: Load) -> list[Figure]:
    """8c, 8d, 8f-8j on the running server."""
    sf = server.sf
    timeline, _ = wrk_row(ctx, server, "8c", "timeline", timeline_script(sf.median, 22), sample_timeline(sf.median), b3)
    busiest, _ = wrk_row(ctx, server, "8d", "state-busiest", state_script(sf.busiest, 23), sample_state(sf.busiest), b3)
    busiest.detail += f"; {sf.busiest} in {sf.busiest_facts:,} facts ({100 * sf.busiest_facts / sf.facts:.1f}%)"
    return [timeline, busiest, *one_at_a_time_rows(ctx, server), conditional_row(ctx, server, b3)]


def processes_row(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts, one: Load) -> Figure:
    """8e: 4l's reads (same script, same seed) from ``serve --processes 2``, beside 4l."""
    server = serve(ctx, backend, db_url, sf, "processes-2", processes=2)
    try:
        figure, _ = wrk_row(
            ctx, server, "8e", "state-processes-2", state_script(sf.median, 21), sample_state(sf.median), one, "4l"
        )
    finally:
        stop_server(server.child, ctx.report.notes)
    figure.detail += " (server CPU: its whole process group, API processes and worker)"
    return figure


# --- one request at a time ----------------------------------------------------------------------


def timed(runs: int, max_s: float, request: Callable[[int], object]) -> list[float]:
    """``request(i)`` for i in range(runs), each timed in ms; stops early after ``max_s`` (at least 3 runs)."""
    times: list[float] = []
    started = time.monotonic()
    for i in range(runs):
        if i >= 3 and time.monotonic() - started > max_s:
            break
        t0 = time.perf_counter()
        request(i)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def series_figure(key: str, times: list[float], p: int, what: str) -> Figure:
    return Figure(
        key,
        pct(times, p),
        detail=f"{what}: n {len(times)}, p50 {fmt_ms(pct(times, 50))} / p95 {fmt_ms(pct(times, 95))} / "
        f"max {fmt_ms(max(times))} ms, one request at a time on one keep-alive connection",
    )


def one_at_a_time_rows(ctx: Ctx, server: Server) -> list[Figure]:
    """8f-8i: what a user waits for on one request (a first unmeasured request warms each up); a
    row whose request fails fails alone."""
    sf = server.sf
    rng = random.Random(31)
    runs = 5 if ctx.args.quick else 21
    as_ofs = [iso_us(rng.choice(sf.recorded_us)) for _ in range(runs + 1)]
    days = [iso_us(rng.randrange(us(START), us(END)))[:10] for _ in range(runs * 3 + 1)]
    ctx.quiet(f"one-at-a-time reads ({server.backend})")
    progress(f"  stats, actors and the slider step, one request at a time ({server.backend}) ...")
    figures = []
    with client() as http:
        rows: list[tuple[str, int, int, str, Callable[[int], object]]] = [
            ("8f", runs, 50, "GET /v1/stats?by=month", lambda i: server.get(http, "/v1/stats", by="month")),
            (
                "8g",
                runs,
                50,
                "GET /v1/stats?by=month&as_of=(a revision's time, each distinct)",
                lambda i: server.get(http, "/v1/stats", by="month", as_of=as_ofs[i - 1]),
            ),
            ("8h", runs, 50, "GET /v1/actors", lambda i: server.get(http, "/v1/actors")),
            ("8i", runs * 3, 95, "GET /v1/state?at=(random day)&actor=(the page's lanes)", slider(server, http, days)),
        ]
        for key, n, p, what, request in rows:
            try:
                request(0)  # unmeasured (i = 0 asks what no measured run asks)
                times = timed(n, ctx.args.query_seconds, lambda i, request=request: request(i + 1))
                figures.append(series_figure(key, times, p, what))
            except BenchError as exc:
                figures.append(Figure(key, None, error=str(exc).splitlines()[0]))
    return figures


def slider(server: Server, http: httpx.Client, days: list[str]) -> Callable[[int], object]:
    """The slider step's request for day ``i``, for the lanes the page shows first."""
    listed = server.get(http, "/v1/actors", limit="1000").json()["items"]
    lanes = ",".join(a["id"] for a in sorted(listed, key=lambda a: (-a["event_count"], a["id"]))[:LANES])
    return lambda i: server.get(http, "/v1/state", at=days[i - 1], actor=lanes)


def iso_us(micros: int) -> str:
    return iso(dt.datetime.fromtimestamp(micros / 1e6, dt.UTC))


def conditional_row(ctx: Ctx, server: Server, b3: Load) -> Figure:
    """8j: If-None-Match with the ETag of a prior answer, under wrk; a row the service cannot
    answer yet (no ETag, or no 304) says so instead of failing the run."""
    path = sample_state(server.sf.median)
    with client() as http:
        first = server.get(http, path)
        etag = first.headers.get("etag")
        if not etag:
            return Figure("8j", None, lacking="no ETag sent", detail=f"GET {path} answered without an ETag header")
        again = http.get(server.base + path, headers={"if-none-match": etag})
        if again.status_code != 304:
            return Figure("8j", None, lacking=f"If-None-Match answered {again.status_code}", detail=f"GET {path}")
        if ctx.wrk is None:
            return Figure("8j", None, lacking="needs wrk", detail="bench.loadgen sends no If-None-Match")
        script = get_script([path], TOKEN, {"If-None-Match": etag})
        result = drive(
            ctx, server.child, server.base, f"conditional-{server.backend}", token=TOKEN, paths=[path], script=script
        )
        after = http.get(server.base + path, headers={"if-none-match": etag}).status_code
    if after != 304:
        ctx.note(f"8j ({server.backend}): after the window, If-None-Match answered {after}, not 304")
    return Figure(
        "8j", result.rps, b3.rps, "B3", f"{result.text()}; GET {path} with If-None-Match {etag} (304 before and after)"
    )
