"""The whole benchmark suite in one run, each target beside a baseline measured in the same run.

    .venv/bin/python -m bench [--quick] [--only 1,2,4] [--backend sqlite|postgres|both] [--markdown PATH]

Baselines (same run, same machine): B1 a FastAPI echo of a fact-sized POST, B2 raw inserts into a
table of the event store's shape (one row per commit, and 1,000 rows per transaction), B3 a FastAPI
GET of a small JSON object. Targets: 1 single-fact HTTP appends; 2 import (store, read models, batch
POSTs, peak memory); 3 projection rebuild; 4 state at a date on a skewed store (in-process and over
HTTP, server memory); 5 cost growth with the store's size; 7 webhook latency and throughput.

Prints progress to standard error and one table to standard output: each target, its figure, its
baseline, the ratio, and PASS or SHORT (by how much). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg

from bench import webhooks
from bench.append_http import (
    TOKEN,
    BenchError,
    Child,
    _on_signal,
    bench_postgres_url,
    clean_env,
    free_port,
    ids_in_postgres,
    ids_in_sqlite,
    libpq_url,
    log_problems,
    log_tail,
    machine_info,
    other_cpu_pct,
    postgres_server_version,
    run_load,
    start_child,
    stop,
    stop_all,
    wait_for_quiet,
    wait_healthy,
)
from bench.append_http import workspace as shared_workspace
from bench.loadgen import cpu_seconds_of, machine_busy_ticks, make_body
from bench.state_query import (
    Generator,
    LoadFigures,
    Series,
    StoreFacts,
    load,
    make_params,
    measure,
    ncpu,
    pct,
    progress,
    reset_postgres,
    run_state,
    run_timeline,
    store_facts,
    table,
)
from service.bootstrap import Container, bootstrap
from service.domain.facts import validate_fact
from service.runtime import tune_garbage_collector
from service.settings import Settings

ACTORS = 1000
ZIPF = 0.62  # with 1,000 actors, the busiest one is in about 5 % of the facts (bench.state_query's generator)
BATCH = 1000
BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
RESULT_MARK = "SUITE_RESULT "
DISTURBED_PCT = 25.0  # other processes' CPU (% of one core) above which a figure is flagged as disturbed


# --- what the table shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    op: str  # ">=" or "<="
    threshold: float
    on: str = "value"  # or "ratio"

    def text(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.threshold:g}"
        return f"{self.op} {self.threshold:,g} {unit}".rstrip()


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    unit: str
    spec: str  # format of the figure
    goal: Goal | None


SPECS = [
    Spec("1", "HTTP appends, POST /v1/events", "req/s", ",.0f", Goal(">=", 0.6, "ratio")),
    Spec("2a", "import: facts/s into the store", "facts/s", ",.0f", Goal(">=", 25_000)),
    Spec("2b", "import: facts/s, read models caught up", "facts/s", ",.0f", Goal(">=", 15_000)),
    Spec("2c", "POST /v1/events/batch, 1,000 facts per request", "facts/s", ",.0f", None),
    Spec("2d", "import peak RSS, 2N facts (baseline: N)", "MB", ",.0f", Goal("<=", 1.10, "ratio")),
    Spec("3", "rebuild-projections", "facts/s", ",.0f", Goal(">=", 20_000)),
    Spec("4a", "state, median actor, current: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4b", "state, median actor, current: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4c", "state, median actor, as_of: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4d", "state, median actor, as_of: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4e", "state, median actor, as_of+reported_by: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4f", "state, median actor, as_of+reported_by: p99", "ms", ".2f", Goal("<=", 25)),
    Spec("4g", "state, busiest actor, current: p99", "ms", ".1f", Goal("<=", 100)),
    Spec("4h", "state, busiest actor, as_of: p99", "ms", ".1f", Goal("<=", 100)),
    Spec("4i", "state, busiest actor, as_of+reported_by: p99", "ms", ".1f", Goal("<=", 100)),
    Spec("4j", "timeline, median actor, first page of 100: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4k", "timeline, busiest actor, 100 from a random date: p50", "ms", ".2f", Goal("<=", 5)),
    Spec("4l", "GET /v1/actors/{median}/state over HTTP", "req/s", ",.0f", Goal(">=", 0.5, "ratio")),
    Spec("4m", "server RSS while serving 4l (VmHWM)", "MB", ",.0f", Goal("<=", 300)),
    Spec("7a", "webhooks: append -> first delivery, p50", "ms", ".1f", Goal("<=", 50)),
    Spec("7b", "webhooks: deliveries/s, one subscription", "deliveries/s", ",.0f", Goal(">=", 500)),
]
SPEC = {s.key: s for s in SPECS}


@dataclass
class Cell:
    value: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def verdict(spec: Spec, cell: Cell) -> str:
    """PASS, SHORT by how far from the goal (relative to the goal), FAILED, or info (no goal)."""
    if cell.error:
        return "FAILED"
    if spec.goal is None:
        return "info"
    x = cell.ratio if spec.goal.on == "ratio" else cell.value
    if x is None:
        return "-"
    goal = spec.goal.threshold
    if spec.goal.op == ">=":
        return "PASS" if x >= goal else f"SHORT by {100 * (1 - x / goal):.0f}%"
    return "PASS" if x <= goal else f"SHORT by {100 * (x / goal - 1):.0f}%"


@dataclass
class Report:
    backends: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    details: list[tuple[str, str, str]] = field(default_factory=list)  # (key, backend, text)
    baselines: list[tuple[str, str, str]] = field(default_factory=list)  # (name, backend, text)
    curve: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    failed: bool = False

    def put(self, key: str, backend: str, value: float | None, baseline: float | None = None,
            baseline_name: str = "", detail: str = "") -> None:
        self.cells[(key, backend)] = Cell(value, baseline, baseline_name)
        if detail:
            self.details.append((key, backend, detail))

    def fail(self, keys: list[str], backend: str, error: str) -> None:
        self.failed = True
        for key in keys:
            self.cells.setdefault((key, backend), Cell()).error = error
        self.details.append((keys[0] if keys else "-", backend, f"FAILED: {error}"))

    # -- rendering --

    def sorted_details(self) -> list[tuple[str, str, str]]:
        """By backend, then in the table's order (a detail keyed "4" goes before the rows 4a...)."""
        def order(item: tuple[str, str, str]) -> tuple[int, int]:
            key, backend, _ = item
            index = next((i for i, spec in enumerate(SPECS) if spec.key.startswith(key)), len(SPECS))
            return (self.backends.index(backend) if backend in self.backends else -1, index)
        return sorted(self.details, key=order)

    def rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        header: tuple[str, ...] = ("target", "goal")
        for backend in self.backends:
            header += (BACKEND_NAMES[backend], "baseline", "ratio", "result")
        out = []
        for spec in SPECS:
            if not any((spec.key, b) in self.cells for b in self.backends):
                continue
            row: tuple[str, ...] = (f"{spec.key} {spec.title}", spec.goal.text(spec.unit) if spec.goal else "-")
            for backend in self.backends:
                cell = self.cells.get((spec.key, backend))
                if cell is None:
                    row += ("not run", "", "", "")
                    continue
                figure = "-" if cell.value is None else f"{format(cell.value, spec.spec)} {spec.unit}"
                base = "-" if cell.baseline is None else f"{cell.baseline_name} {format(cell.baseline, spec.spec)}"
                ratio = "-" if cell.ratio is None else f"{cell.ratio:.3f}"
                row += (figure, base, ratio, verdict(spec, cell))
            out.append(row)
        return header, out


# --- the run's context ----------------------------------------------------------------------


@dataclass
class Ctx:
    args: argparse.Namespace
    workdir: Path
    report: Report
    wrk: str | None
    pg: PgDatabases | None
    b1: Load | None = None
    b3: Load | None = None
    b2: dict[str, dict[str, float]] = field(default_factory=dict)
    sample: list[tuple[str, bytes]] = field(default_factory=list)
    files: tuple[Path, Path] | None = None
    disturbed: list[str] = field(default_factory=list)

    def quiet(self, what: str) -> None:
        if self.args.wait_idle <= 0:
            return
        was_quiet, busy = wait_for_quiet(self.args.wait_idle)
        if not was_quiet:
            self.report.notes.append(f"{what}: the machine was still {busy:.0f}% busy with other work after waiting "
                                     f"{self.args.wait_idle:g} s; that figure is disturbed")


# --- PostgreSQL databases -------------------------------------------------------------------


def psql(sql: str) -> None:
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1",
         "-c", sql],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"psql {sql!r} failed: {result.stderr.strip()}")


class PgDatabases:
    """A fresh database per phase: throwaway ones on the local server, or the given one wiped."""

    def __init__(self, given_url: str | None, keep: bool):
        self.given = given_url
        self.keep = keep
        self.created: list[str] = []

    def fresh(self, phase: str) -> str:
        if self.given:
            reset_postgres(self.given)
            return self.given
        name = f"timeline_bench_{os.getpid()}_{phase}"
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        psql(f"CREATE DATABASE {name}")
        self.created.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def done(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if self.keep or name not in self.created:
            return
        with contextlib.suppress(BenchError, subprocess.SubprocessError, OSError):
            psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.done(f"postgresql://127.0.0.1/{name}")
        if self.created:
            progress(f"kept the PostgreSQL databases {', '.join(self.created)}")


def fresh_db(ctx: Ctx, backend: str, phase: str) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, SQLite path or None) of a new, empty database for one phase."""
    if backend == "sqlite":
        path = ctx.workdir / f"{phase}.sqlite3"
        return f"sqlite:///{path}", path
    assert ctx.pg is not None
    return ctx.pg.fresh(phase), None


def release_db(ctx: Ctx, url: str, path: Path | None) -> None:
    if path is not None and not ctx.args.keep:
        for p in path.parent.glob(path.name + "*"):
            p.unlink(missing_ok=True)
    elif path is None and ctx.pg is not None:
        ctx.pg.done(url)


class StoreProbe:
    """Reads the log's head and the projections' positions from outside the service (cheap queries)."""

    def __init__(self, url: str):
        self.url = url
        self.conn: Any = None
        self.last: dict[str, int] = {}
        self.error = ""

    def _connect(self) -> Any:
        if self.conn is None:
            if self.url.startswith("sqlite"):
                path = Path(self.url.split("///", 1)[1])
                if not path.exists():
                    return None
                self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, isolation_level=None)
            else:
                self.conn = psycopg.connect(libpq_url(self.url), autocommit=True, connect_timeout=10)
        return self.conn

    def _scalar(self, what: str, sql: str, params: tuple[Any, ...] = ()) -> int:
        try:
            conn = self._connect()
            if conn is None:
                return 0
            if not self.url.startswith("sqlite"):
                sql = sql.replace("?", "%s").replace("rowid", "notification_id")
            row = conn.execute(sql, params).fetchone()
            self.last[what] = int(row[0] or 0) if row else 0
            self.error = ""
        except (sqlite3.Error, psycopg.Error, OSError) as exc:  # not there yet, or busy: the last value stands
            self.error = f"{type(exc).__name__}: {exc}"
            if self.conn is not None and not self.url.startswith("sqlite"):
                with contextlib.suppress(Exception):
                    self.conn.close()
                self.conn = None
        return self.last.get(what, 0)

    def head(self) -> int:
        return self._scalar("head", "SELECT max(rowid) FROM stored_events")

    def position(self, name: str) -> int:
        return self._scalar(name, "SELECT position FROM projection_positions WHERE name = ?", (name,))

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


# --- child processes that run to completion -------------------------------------------------


@dataclass
class Finished:
    code: int
    wall_s: float
    cpu_s: float
    maxrss_kib: int


def reap(child: Child, started: float, timeout: float, poll: Callable[[float], None] | None = None,
         interval: float = 0.1) -> Finished:
    """Wait (bounded) for a child with wait4, so that its own CPU time and peak RSS are known."""
    while True:
        pid, status, usage = os.wait4(child.proc.pid, os.WNOHANG)
        now = time.monotonic()
        if pid:
            child.proc.returncode = os.waitstatus_to_exitcode(status)
            stop(child)  # the rest of its process group, if anything is left
            return Finished(child.proc.returncode, now - started, usage.ru_utime + usage.ru_stime,
                            usage.ru_maxrss)
        if poll is not None:
            poll(now - started)
        if now - started > timeout:
            stop(child)
            raise BenchError(f"{child.name} did not finish within {timeout:.0f} s\n{log_tail(child)}")
        time.sleep(interval)


def service_command(ctx: Ctx, name: str, argv: list[str], db_url: str, timeout: float,
                    poll: Callable[[float], None] | None = None) -> Finished:
    """``python -m service ARGV`` on db_url; fails with the log's tail unless it exits 0."""
    env = clean_env() | {"TIMELINE_DATABASE_URL": db_url}
    started = time.monotonic()
    child = start_child(name, [sys.executable, "-m", "service", *argv], env, ctx.workdir / f"{name}.log")
    done = reap(child, started, timeout, poll)
    if done.code != 0:
        raise BenchError(f"python -m service {' '.join(argv[:1])} exited with {done.code}\n{log_tail(child)}")
    return done


# --- HTTP servers and load ------------------------------------------------------------------


def start_server(ctx: Ctx, name: str, db_url: str | None, tokens: str) -> tuple[Child, str]:
    """The service (db_url given) or the baseline app (db_url None) on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if db_url is None:
        argv = [sys.executable, "-m", "bench.baseline_app", "--host", "127.0.0.1", "--port", str(port)]
        env = clean_env()
    else:
        argv = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
        env = clean_env() | {"TIMELINE_DATABASE_URL": db_url, "TIMELINE_API_TOKENS": tokens}
    child = start_child(name, argv, env, ctx.workdir / f"{name.replace(' ', '-')}.log")
    wait_healthy(child, base)
    return child, base


def stop_server(ctx: Ctx, child: Child) -> None:
    code = stop(child)
    # uvicorn re-raises the SIGTERM it handled after a graceful shutdown: -15 is normal.
    if code not in (0, -signal.SIGTERM, None):
        ctx.report.notes.append(f"{child.name} exited with {code} when stopped (-9: it had to be killed)")
    for kind, count in log_problems(child).items():
        if count:
            ctx.report.notes.append(f"{child.name} log: {count} {kind}")


def proc_status_kib(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class RssWatch:
    """The highest VmRSS of a process seen while on (sampled every 0.25 s), and its VmHWM at the end."""

    def __init__(self, pid: int):
        self.pid = pid
        self.max_rss_kib = 0
        self.hwm_kib: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = proc_status_kib(self.pid, "VmRSS")
            if rss:
                self.max_rss_kib = max(self.max_rss_kib, rss)
            self._stop.wait(0.25)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hwm_kib = proc_status_kib(self.pid, "VmHWM")
        self._stop.set()
        self._thread.join(5)


@dataclass
class Load:
    tool: str
    rps: float  # 2xx answers per second in the measured window
    p50_ms: float | None
    p99_ms: float | None
    non2xx: int  # in the window
    socket_errors: dict[str, int]  # in the window
    ok_total: int  # 2xx answers over warm-up and window (for the accounting)
    client_cpu: float | None = None  # % of one core
    server_cpu: float | None = None
    other_cpu: float | None = None  # everything else on the machine (a database server included)
    max_rss_kib: int = 0
    hwm_kib: int | None = None
    ids: set[str] | None = None  # the event ids answered 201 (the Python load generator only)

    def text(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in self.socket_errors.items() if v) or "0"
        return (f"{self.rps:,.0f} req/s, p50 {fmt_ms(self.p50_ms)} / p99 {fmt_ms(self.p99_ms)} ms, "
                f"non-2xx {self.non2xx}, socket errors {errors}; CPU: server {fmt_pct(self.server_cpu)}, "
                f"client {fmt_pct(self.client_cpu)}, other {fmt_pct(self.other_cpu)} ({self.tool})")


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def mb(kib: int | None) -> float | None:
    return None if kib is None else kib * 1024 / 1e6


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SUITE_RESULT {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, " ..
    "\"connect\": %d, \"read\": %d, \"write\": %d, \"timeout\": %d, " ..
    "\"p50_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def uuid_prefix() -> str:
    """The first 24 characters of a version-4 UUID; a 12-digit hex counter completes it."""
    h = uuid.uuid4().hex
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-"


def lua_headers(token: str, json_body: bool) -> str:
    pairs = [f'["Authorization"] = "Bearer {token}"'] if token else []
    if json_body:
        pairs.append('["Content-Type"] = "application/json"')
    return "{" + ", ".join(pairs) + "}"


def post_script(token: str) -> str:
    """A wrk script whose every request is a unique, valid StatementIssued fact (bench.loadgen's body)."""
    prefix = uuid_prefix()
    event_id, body = make_body(prefix[:8], 0, 0)
    head, tail = body.decode().split(event_id)
    return f"""
local counter = 0
local head = [==[{head}]==]
local tail = [==[{tail}]==]
local headers = {lua_headers(token, True)}
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/events", headers, head .. string.format("{prefix}%012x", counter) .. tail)
end
""" + WRK_DONE


def get_script(paths: list[str], token: str) -> str:
    listed = ",\n  ".join(f'"{p}"' for p in paths)
    return f"""
local paths = {{
  {listed}
}}
local i = 0
local headers = {lua_headers(token, False)}
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
""" + WRK_DONE


def wrk_once(ctx: Ctx, server: Child, base: str, script: str, seconds: float,
             label: str) -> tuple[dict[str, Any], Finished, float | None, float | None]:
    """One wrk run: its done() figures, its own run (CPU), the server's CPU and everything else's (% of a core)."""
    path = ctx.workdir / f"{label}.lua"
    path.write_text(script)
    duration = max(1, round(seconds))
    argv = [ctx.wrk or "wrk", "-t1", f"-c{ctx.args.connections}", f"-d{duration}s", "--timeout", "10s",
            "-s", str(path), base]
    cpu0, busy0 = cpu_seconds_of(server.proc.pid), machine_busy_ticks()
    started = time.monotonic()
    child = start_child(f"wrk-{label}", argv, clean_env(), ctx.workdir / f"wrk-{label}.log")
    done = reap(child, started, duration + 60)
    cpu1, busy1 = cpu_seconds_of(server.proc.pid), machine_busy_ticks()
    out = child.log_path.read_text(errors="replace")
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if done.code != 0 or not lines:
        raise BenchError(f"wrk failed (exit {done.code})\n{log_tail(child)}")
    result = orjson.loads(lines[-1][len(RESULT_MARK):])
    server_cpu = None if cpu0 is None or cpu1 is None else 100 * (cpu1 - cpu0) / done.wall_s
    other = None
    if busy0 and busy1 and busy1[1] > busy0[1] and server_cpu is not None:
        busy = 100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * ncpu()
        other = max(0.0, busy - server_cpu - 100 * done.cpu_s / done.wall_s)
    return result, done, server_cpu, other


def drive(ctx: Ctx, server: Child, base: str, label: str, *, token: str = "", paths: list[str] | None = None) -> Load:
    """A warm-up, then the measured window, of POSTs of unique facts (no paths) or GETs of paths."""
    result = _drive(ctx, server, base, label, token, paths)
    if result.other_cpu is not None and result.other_cpu > DISTURBED_PCT and "postgres" not in label:
        ctx.report.notes.append(f"{label}: other processes used {result.other_cpu:.0f}% of a core during the window; "
                                "that figure is disturbed")
    return result


def _drive(ctx: Ctx, server: Child, base: str, label: str, token: str, paths: list[str] | None) -> Load:
    ctx.quiet(label)
    progress(f"  {label}: {ctx.args.warmup:g} s warm-up + {ctx.args.seconds:g} s, "
             f"{ctx.args.connections} connections ({'wrk' if ctx.wrk else 'bench.loadgen'}) ...")
    if ctx.wrk:
        ok_total = 0
        if ctx.args.warmup > 0:
            script = post_script(token) if paths is None else get_script(paths, token)
            warm, _, _, _ = wrk_once(ctx, server, base, script, ctx.args.warmup, f"{label}-warmup")
            ok_total += warm["requests"] - warm["non2xx"]
        script = post_script(token) if paths is None else get_script(paths, token)
        with RssWatch(server.proc.pid) as rss:
            r, done, server_cpu, other = wrk_once(ctx, server, base, script, ctx.args.seconds, label)
        ok = r["requests"] - r["non2xx"]
        ok_total += ok
        seconds = r["duration_us"] / 1e6
        return Load(
            tool="wrk", rps=ok / seconds if seconds else 0.0, p50_ms=r["p50_us"] / 1000, p99_ms=r["p99_us"] / 1000,
            non2xx=r["non2xx"], socket_errors={k: r[k] for k in ("connect", "read", "write", "timeout")},
            ok_total=ok_total, client_cpu=100 * done.cpu_s / done.wall_s, server_cpu=server_cpu, other_cpu=other,
            max_rss_kib=rss.max_rss_kib, hwm_kib=rss.hwm_kib,
        )
    ns = argparse.Namespace(connections=ctx.args.connections, warmup=ctx.args.warmup, seconds=ctx.args.seconds,
                            request_timeout=30.0, shared_pool=False, wait_idle=0)
    with RssWatch(server.proc.pid) as rss:
        if paths is None:
            r = run_load(server, base, ns, ctx.workdir, token)
        else:
            r = run_load(server, base, ns, ctx.workdir, token, path=paths[0], get=True)
    window = r["errors_in_window"]
    return Load(
        tool="bench.loadgen", rps=r["requests_per_s"], p50_ms=r["p50_ms"], p99_ms=r["p99_ms"],
        non2xx=sum(v for k, v in window.items() if k.startswith("HTTP ")),
        socket_errors={k: v for k, v in window.items() if not k.startswith("HTTP ")},
        ok_total=sum(v for k, v in r["status_total"].items() if k.startswith("2")),
        client_cpu=r["loadgen_cpu_pct"], server_cpu=r["server_cpu_pct"], other_cpu=other_cpu_pct(r),
        max_rss_kib=rss.max_rss_kib, hwm_kib=rss.hwm_kib,
        ids=None if paths is not None else {str(uuid.UUID(i)) for i in r["created_ids"]},
    )


def resolve_wrk(report: Report) -> str | None:
    """wrk on PATH, else installed from the Debian package; None (use bench.loadgen) if that fails."""
    found = shutil.which("wrk")
    if found is None:
        progress("wrk is not on PATH: installing the Debian package (apt-get) ...")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
                result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
                if result.returncode != 0:
                    raise BenchError(f"{' '.join(argv)} failed: {result.stderr.strip()[-300:]}")
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            report.notes.append(f"could not install wrk ({exc}); bench.loadgen (asyncio + httpx in another "
                                "process) drove the HTTP targets instead")
        found = shutil.which("wrk")
        if found:
            report.notes.append("wrk was not installed: the suite installed the Debian package")
    if found is None:
        report.info["load generator"] = "bench.loadgen (asyncio + httpx, one process, one client per connection)"
        return None
    version = subprocess.run([found, "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (version.stdout + version.stderr).strip().splitlines()
    name = first[0].split(" Copyright")[0] if first else "wrk"
    report.info["load generator"] = f"{name} ({found}), 1 thread, a separate process"
    return found


# --- baselines ------------------------------------------------------------------------------


def baseline_http(ctx: Ctx, which: str) -> Load:
    """B1 (POST echo) or B3 (GET /v1/ping), measured once per run and kept."""
    cached = ctx.b1 if which == "B1" else ctx.b3
    if cached is not None:
        return cached
    child, base = start_server(ctx, f"{which} baseline", None, "")
    try:
        result = drive(ctx, child, base, which, paths=None if which == "B1" else ["/v1/ping"])
    finally:
        stop_server(ctx, child)
    what = ("FastAPI+uvicorn echo of a fact-sized POST (pydantic validation, 201)" if which == "B1"
            else "FastAPI+uvicorn GET /v1/ping, small JSON object")
    ctx.report.baselines.append((which, "-", f"{what}: {result.text()}"))
    if result.non2xx or any(result.socket_errors.values()):
        ctx.report.notes.append(f"{which}: errors in the window ({result.non2xx} non-2xx, {result.socket_errors})")
    if which == "B1":
        ctx.b1 = result
    else:
        ctx.b3 = result
    return result


def sample_events(ctx: Ctx) -> list[tuple[str, bytes]]:
    """Real stored events (topic, state) of generated facts, recorded by the service's own store."""
    if ctx.sample:
        return ctx.sample
    path = ctx.workdir / "sample-events.sqlite3"
    container = bootstrap(Settings(database_url=f"sqlite:///{path}", api_tokens=""))
    try:
        gen = Generator(ACTORS, 99, ctx.args.zipf)
        container.store.record_facts([validate_fact(gen.fact(i)[0]) for i in range(300)])
    finally:
        container.close()
    conn = sqlite3.connect(path)
    try:
        ctx.sample = [(str(t), bytes(s)) for t, s in conn.execute("SELECT topic, state FROM stored_events")]
    finally:
        conn.close()
    return ctx.sample


B2_COLUMNS = "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB"
B2_PG_COLUMNS = ("originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, state bytea, "
                 "notification_id bigserial")


def b2_sqlite(ctx: Ctx, rows: list[tuple[str, bytes]], seconds: float, total: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for mode in ("single", "batched"):
        path = ctx.workdir / f"b2-{mode}.sqlite3"
        conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT, as eventsourcing.sqlite
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            out["synchronous"] = conn.execute("PRAGMA synchronous").fetchone()[0]
            conn.execute(f"CREATE TABLE stored_events ({B2_COLUMNS}, "
                         "PRIMARY KEY (originator_id, originator_version))")
            n, elapsed = b2_insert(conn, rows, mode, seconds, total, "?", lambda: uuid.uuid4().hex)
        finally:
            conn.close()
        out[mode] = n / elapsed
        out[f"{mode}_rows"] = n
        if not ctx.args.keep:
            for p in path.parent.glob(path.name + "*"):
                p.unlink(missing_ok=True)
    return out


def b2_postgres(ctx: Ctx, rows: list[tuple[str, bytes]], seconds: float, total: int) -> dict[str, float]:
    url = ctx.pg.fresh("b2") if ctx.pg else ""
    out: dict[str, float] = {}
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
            for mode in ("single", "batched"):
                table = f"stored_events_{mode}"
                conn.execute(f"CREATE TABLE {table} ({B2_PG_COLUMNS}, PRIMARY KEY (originator_id, originator_version))")
                conn.execute(f"CREATE UNIQUE INDEX {table}_nid ON {table} (notification_id)")
                conn.commit()
                n, elapsed = b2_insert(conn, rows, mode, seconds, total, "%s", uuid.uuid4, table=table)
                out[mode] = n / elapsed
                out[f"{mode}_rows"] = n
            sync = conn.execute("SHOW synchronous_commit").fetchone()
            out["synchronous_commit"] = str(sync[0]) if sync else "?"  # type: ignore[assignment]
    finally:
        if ctx.pg:
            ctx.pg.done(url)
    return out


def b2_insert(conn: Any, rows: list[tuple[str, bytes]], mode: str, seconds: float, total: int, mark: str,
              new_id: Callable[[], Any], table: str = "stored_events") -> tuple[int, float]:
    """One row per transaction for ``seconds``; or ``total`` rows, 1,000 per transaction (executemany)."""
    sql = f"INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES ({', '.join([mark] * 4)})"
    is_sqlite = isinstance(conn, sqlite3.Connection)
    n = 0
    started = time.perf_counter()
    if mode == "single":
        end = started + seconds
        while True:
            topic, state = rows[n % len(rows)]
            if is_sqlite:
                conn.execute("BEGIN")
            conn.execute(sql, (new_id(), 1, topic, state))
            if is_sqlite:
                conn.execute("COMMIT")
            else:
                conn.commit()
            n += 1
            if n % 20 == 0 and time.perf_counter() >= end:
                break
        return n, time.perf_counter() - started
    params = [(new_id(), 1, *rows[i % len(rows)]) for i in range(total)]
    deadline = time.monotonic() + max(300.0, total / 1000)
    started = time.perf_counter()
    for i in range(0, total, BATCH):
        if is_sqlite:
            conn.execute("BEGIN")
            conn.executemany(sql, params[i:i + BATCH])
            conn.execute("COMMIT")
        else:
            with conn.cursor() as cur:
                cur.executemany(sql, params[i:i + BATCH])
            conn.commit()
        n += len(params[i:i + BATCH])
        if time.monotonic() > deadline:
            break
    return n, time.perf_counter() - started


def baseline_store(ctx: Ctx, backend: str) -> dict[str, float]:
    if backend in ctx.b2:
        return ctx.b2[backend]
    rows = sample_events(ctx)
    ctx.quiet(f"B2 ({backend})")
    total = ctx.args.import_facts
    progress(f"B2 ({backend}): raw inserts of {sum(len(s) for _, s in rows) / len(rows):.0f}-byte events, one per "
             f"commit for {ctx.args.seconds:g} s, then {total:,} in transactions of {BATCH} ...")
    figures = (b2_sqlite if backend == "sqlite" else b2_postgres)(ctx, rows, ctx.args.seconds, total)
    state_bytes = sum(len(s) for _, s in rows) / len(rows)
    if backend == "sqlite":
        how = (f"Python sqlite3 {sqlite3.sqlite_version}, journal_mode=WAL, synchronous="
               f"{ {0: 'OFF', 1: 'NORMAL', 2: 'FULL', 3: 'EXTRA'}.get(int(figures['synchronous']), '?') } "
               "(the library's: eventsourcing.sqlite sets WAL and leaves synchronous at its default)")
    else:
        how = f"psycopg, synchronous_commit={figures.get('synchronous_commit')}, executemany for the batches"
    ctx.report.baselines.append((
        "B2", backend,
        (f"raw inserts into a table of stored_events' shape, real {state_bytes:.0f}-byte event states from the "
         f"service's mapper: one row per commit {figures['single']:,.0f} rows/s ({figures['single_rows']:,.0f} rows); "
         f"{BATCH} rows per transaction {figures['batched']:,.0f} rows/s ({figures['batched_rows']:,.0f} rows); {how}"),
    ))
    ctx.b2[backend] = figures
    return figures


# --- target 1: single-fact appends over HTTP ------------------------------------------------


def target_appends(ctx: Ctx, backend: str) -> None:
    b1 = baseline_http(ctx, "B1")
    db_url, db_path = fresh_db(ctx, backend, "appends")
    try:
        child, base = start_server(ctx, f"service-{backend} appends", db_url, f"{TOKEN}:write")
        try:
            result = drive(ctx, child, base, f"appends-{backend}", token=TOKEN)
        finally:
            stop_server(ctx, child)
        stored = ids_in_sqlite(db_path) if db_path is not None else ids_in_postgres(db_url)
        if stored is None:
            account = "store not read (no psql client)"
        elif result.ids is not None:
            same = set(stored) == result.ids
            account = f"store {len(stored):,} facts == {len(result.ids):,} answered 201: {'OK' if same else 'MISMATCH'}"
            if not same:
                ctx.report.failed = True
        else:
            extra = len(stored) - result.ok_total
            runs = 2 if ctx.args.warmup > 0 else 1
            ok = 0 <= extra <= ctx.args.connections * runs
            account = (f"store {len(stored):,} facts, {result.ok_total:,} answered 2xx (warm-up included): "
                       f"{'OK' if ok else 'MISMATCH'} (wrk does not count answers in flight when it stops: up to "
                       f"{ctx.args.connections} per run)")
            if not ok:
                ctx.report.failed = True
        ctx.report.put("1", backend, result.rps, b1.rps, "B1", f"{result.text()}; {account}")
    finally:
        release_db(ctx, db_url, db_path)


# --- targets 2 and 3: import, read models, batch POSTs, rebuild ---------------------------------


def import_files(ctx: Ctx) -> tuple[Path, Path]:
    """JSON Lines of N and 2N generated facts (the first N lines of both are the same)."""
    if ctx.files:
        return ctx.files
    n = ctx.args.import_facts
    one, two = ctx.workdir / f"facts-{n}.jsonl", ctx.workdir / f"facts-{2 * n}.jsonl"
    progress(f"writing {2 * n:,} generated facts as JSON Lines ...")
    gen = Generator(ACTORS, 11, ctx.args.zipf)
    with open(one, "wb") as f1, open(two, "wb") as f2:
        for i in range(2 * n):
            line = orjson.dumps(gen.fact(i)[0]) + b"\n"
            f2.write(line)
            if i < n:
                f1.write(line)
    ctx.files = (one, two)
    return ctx.files


def timed_import(ctx: Ctx, backend: str, path: Path, n: int, phase: str) -> dict[str, Any]:
    """Fresh database; `migrate` (schema), `migrate` again (start-up cost), then `import FILE`, polled."""
    db_url, db_path = fresh_db(ctx, backend, phase)
    limit = max(300.0, n / 500)
    service_command(ctx, f"{phase}-migrate", ["migrate"], db_url, limit)
    startup = service_command(ctx, f"{phase}-startup", ["migrate"], db_url, limit).wall_s
    probe = StoreProbe(db_url)
    head_at: list[float] = []

    def poll(elapsed: float) -> None:
        if not head_at and probe.head() >= n:
            head_at.append(elapsed)

    ctx.quiet(f"import ({backend})")
    progress(f"  import of {n:,} facts ({backend}) ...")
    try:
        done = service_command(ctx, f"{phase}-import", ["import", str(path)], db_url, limit, poll)
        head = probe.head()
        read_models = probe.position("read_models")
    finally:
        probe.close()
    if head != n:
        raise BenchError(f"after the import the store's head is {head}, not {n} {probe.error}".rstrip())
    if read_models != head:
        raise BenchError(f"after the import the read models are at {read_models}, not at the head {head}")
    return {"url": db_url, "path": db_path, "startup": startup, "done": done,
            "head_at": head_at[0] if head_at else done.wall_s}


def batch_posts(ctx: Ctx, backend: str, path: Path, n: int) -> tuple[float, str]:
    db_url, db_path = fresh_db(ctx, backend, "batch")
    try:
        child, base = start_server(ctx, f"service-{backend} batch", db_url, f"{TOKEN}:write")
        try:
            ctx.quiet(f"batch POSTs ({backend})")
            progress(f"  POST /v1/events/batch: {n:,} facts, {BATCH} per request ({backend}) ...")
            deadline = time.monotonic() + max(120.0, n / 200)
            elapsed = 0.0  # in the POSTs only, not in building their bodies
            requests = 0
            with httpx.Client(base_url=base, timeout=120.0, trust_env=False,
                              headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}) as client, \
                    open(path, "rb") as fh:
                while lines := [line.rstrip(b"\n") for _, line in zip(range(BATCH), fh, strict=False)]:
                    body = b'{"events":[' + b",".join(lines) + b"]}"
                    started = time.perf_counter()
                    response = client.post("/v1/events/batch", content=body)
                    elapsed += time.perf_counter() - started
                    requests += 1
                    if response.status_code != 201:
                        raise BenchError(f"POST /v1/events/batch answered {response.status_code}: "
                                         f"{response.text[:300]}")
                    if time.monotonic() > deadline:
                        raise BenchError("the batch POSTs took too long")
        finally:
            stop_server(ctx, child)
        probe = StoreProbe(db_url)
        try:
            head = probe.head()
        finally:
            probe.close()
        if head != n:
            ctx.report.failed = True
        return n / elapsed, (f"{requests} requests back to back on one connection, {elapsed:.2f} s in the POSTs; "
                             f"store head {head:,} ({'OK' if head == n else 'MISMATCH'})")
    finally:
        release_db(ctx, db_url, db_path)


def target_import(ctx: Ctx, backend: str) -> None:
    only = ctx.args.only
    n = ctx.args.import_facts
    b2 = baseline_store(ctx, backend) if 2 in only else None
    one, two = import_files(ctx)
    first = timed_import(ctx, backend, one, n, "import")
    try:
        done, startup = first["done"], first["startup"]
        if 2 in only:
            assert b2 is not None
            store_s = max(first["head_at"] - startup, 1e-3)
            all_s = max(done.wall_s - startup, 1e-3)
            ctx.report.put("2a", backend, n / store_s, b2["batched"], "B2 batched",
                           f"{n:,} facts; the store held them {first['head_at']:.2f} s after launch (polled every "
                           f"0.1 s); the command's start-up, {startup:.2f} s (a `migrate` on the same store), left "
                           f"out; {n / first['head_at']:,.0f} facts/s with it")
            ctx.report.put("2b", backend, n / all_s, b2["batched"], "B2 batched",
                           f"the command exits after catching up the read models: {done.wall_s:.2f} s from launch, "
                           f"{n / done.wall_s:,.0f} facts/s with the start-up (the webhook outbox is not moved by "
                           "import; the server catches it up, and with no subscription it writes nothing)")
        if 3 in only:
            ctx.quiet(f"rebuild ({backend})")
            progress(f"  rebuild-projections on the imported store ({backend}) ...")
            rebuilt = service_command(ctx, f"rebuild-{backend}", ["rebuild-projections"], first["url"],
                                      max(300.0, n / 500))
            probe = StoreProbe(first["url"])
            try:
                position, head = probe.position("read_models"), probe.head()
            finally:
                probe.close()
            if position != head or not head:
                raise BenchError(f"after the rebuild the read models are at {position}, the head at {head} "
                                 f"{probe.error}".rstrip())
            rebuild_s = max(rebuilt.wall_s - startup, 1e-3)
            ctx.report.put("3", backend, n / rebuild_s, None, "",
                           f"{n:,} events replayed into the read models, {rebuilt.wall_s:.2f} s from launch, "
                           f"start-up {startup:.2f} s left out ({n / rebuilt.wall_s:,.0f} facts/s with it)")
    finally:
        release_db(ctx, first["url"], first["path"])
    if 2 not in only:
        return
    rate, how = batch_posts(ctx, backend, one, n)
    ctx.report.put("2c", backend, rate, b2["batched"], "B2 batched", how)
    second = timed_import(ctx, backend, two, 2 * n, "import2")
    release_db(ctx, second["url"], second["path"])
    rss_n, rss_2n = mb(first["done"].maxrss_kib), mb(second["done"].maxrss_kib)
    ctx.report.put("2d", backend, rss_2n, rss_n, "N",
                   f"peak RSS (ru_maxrss) of `import`: {rss_n:,.0f} MB for {n:,} facts, {rss_2n:,.0f} MB for "
                   f"{2 * n:,} ({2 * n / max(second['done'].wall_s - second['startup'], 1e-3):,.0f} facts/s, "
                   "read models caught up)")


# --- targets 4 and 5: state at a date on a skewed store, and cost growth ------------------------


def growth_sizes(facts: int) -> list[int]:
    return sorted({min(10_000, facts), min(100_000, facts), facts})


def load_more(ctx: Ctx, container: Container, n: int, step: int) -> float:
    """n more facts through bench.state_query's loader (a seed per step: new facts, same distribution)."""
    ns = argparse.Namespace(facts=n, actors=ACTORS, seed=1 + step * 1000, zipf=ctx.args.zipf,
                            max_load_seconds=max(900.0, n / 250))
    started = time.perf_counter()
    load(container, ns, LoadFigures())
    return time.perf_counter() - started


def single_appends(container: Container, seed: int, count: int, zipf: float, warmup: int = 10) -> list[float]:
    """In-process record_facts([one fact]) times in ms (validation not included)."""
    gen = Generator(ACTORS, seed, zipf)
    facts = [validate_fact(gen.fact(i)[0]) for i in range(count + warmup)]
    times = []
    for i, fact in enumerate(facts):
        started = time.perf_counter()
        container.store.record_facts([fact])
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


def query_series(ctx: Ctx, container: Container, name: str, actor: str, run: Any, params: list[Any]) -> Series:
    series = Series(name, actor)
    measure(container.engine, series, params, run, warmup=ctx.args.query_warmup, max_seconds=ctx.args.query_seconds)
    return series


def query_series_checked(ctx: Ctx, container: Container, backend: str, name: str, actor: str, run: Any,
                         params: list[Any]) -> Series:
    s = query_series(ctx, container, name, actor, run, params)
    if backend == "sqlite" and s.other_cpu is not None and s.other_cpu > DISTURBED_PCT:
        ctx.disturbed.append(name)
    return s


def series_text(s: Series) -> str:
    n = f"{len(s.times_ms)}" + (" (cut short)" if s.cut_short else "")
    rows = f"{sum(s.rows) / len(s.rows):.0f}" if s.rows else "-"
    return (f"{s.actor}: n {n}, rows {rows}, p50 {fmt_ms(pct(s.times_ms, 50))} / p99 {fmt_ms(pct(s.times_ms, 99))} / "
            f"max {fmt_ms(max(s.times_ms) if s.times_ms else None)} ms; own CPU {fmt_pct(s.own_cpu)}, "
            f"other {fmt_pct(s.other_cpu)}")


def target_state(ctx: Ctx, backend: str) -> None:
    only = ctx.args.only
    facts = ctx.args.facts
    sizes = growth_sizes(facts) if 5 in only else [facts]
    db_url, db_path = fresh_db(ctx, backend, "state")
    try:
        container = bootstrap(Settings(database_url=db_url, api_tokens=""))
        tune_garbage_collector()  # as the service's commands do
        try:
            sf: StoreFacts | None = None
            loaded = 0
            curve: list[tuple[str, ...]] = []
            for step, size in enumerate(sizes):
                progress(f"  loading to {size:,} facts ({backend}) ...")
                load_s = load_more(ctx, container, size - loaded, step)
                loaded = size
                if 5 not in only:
                    continue
                ctx.quiet(f"growth at {size} facts ({backend})")
                appends = single_appends(container, 500 + step, ctx.args.appends, ctx.args.zipf)
                container.read_models.catch_up()
                sf = store_facts(container, db_path)
                rng = random.Random(7 + step)
                params = make_params(rng, "now", sf, ctx.args.query_warmup + ctx.args.queries)
                s = query_series(ctx, container, "state median", sf.median, run_state(sf.median), params)
                curve.append((f"{sf.facts:,}", f"{load_s:.1f}", fmt_ms2(pct(appends, 50)), fmt_ms2(pct(appends, 99)),
                              fmt_ms2(pct(s.times_ms, 50)), fmt_ms2(pct(s.times_ms, 99)),
                              f"{sf.median} ({sf.median_facts:,})", f"{100 * sf.busiest_facts / sf.facts:.1f}%"))
            if 5 in only:
                ctx.report.curve[backend] = curve
            if 4 not in only:
                return
            if sf is None:
                sf = store_facts(container, db_path)
            state_rows(ctx, container, backend, sf)
            progress(f"  catching up every projection before serving ({backend}) ...")
            for worker in container.projections:
                worker.catch_up()
            rng = random.Random(3)
            ats = [p.at_us for p in make_params(rng, "now", sf, 200)]
        finally:
            container.close()
        state_http(ctx, backend, db_url, sf, ats)
    finally:
        release_db(ctx, db_url, db_path)


def fmt_ms2(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def state_rows(ctx: Ctx, container: Container, backend: str, sf: StoreFacts) -> None:
    rng = random.Random(2)
    n_all = ctx.args.query_warmup + ctx.args.queries
    kinds = {k: make_params(rng, k, sf, n_all) for k in ("now", "as_of", "as_of_rep")}
    ctx.quiet(f"state queries ({backend})")
    share = 100 * sf.busiest_facts / sf.facts
    ctx.report.details.append(("4", backend, (
        f"store: {sf.facts:,} facts over {sf.actors_named:,} actors (Zipf s={ctx.args.zipf:g}), {sf.corrected:,} "
        f"corrections, {sf.retracted:,} retractions, {sf.size}; busiest {sf.busiest} in {sf.busiest_facts:,} facts "
        f"({share:.1f}%), median {sf.median} in {sf.median_facts:,}")))
    keys = {("median", "now"): ("4a", "4b"), ("median", "as_of"): ("4c", "4d"),
            ("median", "as_of_rep"): ("4e", "4f"), ("busiest", "now"): (None, "4g"),
            ("busiest", "as_of"): (None, "4h"), ("busiest", "as_of_rep"): (None, "4i")}
    for (who, kind), (k50, k99) in keys.items():
        actor = sf.median if who == "median" else sf.busiest
        progress(f"  state {who} {kind} ({backend}) ...")
        s = query_series_checked(ctx, container, backend, f"state {who} {kind}", actor, run_state(actor), kinds[kind])
        if k50:
            ctx.report.put(k50, backend, pct(s.times_ms, 50))
        ctx.report.put(k99, backend, pct(s.times_ms, 99), detail=series_text(s))
    for key, actor, from_random in (("4j", sf.median, False), ("4k", sf.busiest, True)):
        progress(f"  timeline {actor} ({backend}) ...")
        s = query_series_checked(ctx, container, backend, f"timeline {actor}", actor,
                                 run_timeline(actor, from_random), kinds["now"])
        ctx.report.put(key, backend, pct(s.times_ms, 50), detail=series_text(s))
    if ctx.disturbed:
        ctx.report.notes.append(f"in-process queries ({backend}): other processes used more than {DISTURBED_PCT:g}% "
                                f"of a core during {len(ctx.disturbed)} of the rows: those figures are disturbed")
        ctx.disturbed.clear()


def state_http(ctx: Ctx, backend: str, db_url: str, sf: StoreFacts, ats: list[int]) -> None:
    b3 = baseline_http(ctx, "B3")
    paths = [f"/v1/actors/{sf.median}/state?at="
             f"{dt.datetime.fromtimestamp(a / 1e6, dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}" for a in ats]
    child, base = start_server(ctx, f"service-{backend} state", db_url, f"{TOKEN}:read")
    try:
        check = httpx.get(base + paths[0], headers={"authorization": f"Bearer {TOKEN}"}, timeout=30, trust_env=False)
        if check.status_code != 200:
            raise BenchError(f"GET {paths[0]} answered {check.status_code}: {check.text[:300]}")
        result = drive(ctx, child, base, f"state-{backend}", token=TOKEN, paths=paths)
        rss_now = proc_status_kib(child.proc.pid, "VmRSS")
    finally:
        stop_server(ctx, child)
    ctx.report.put("4l", backend, result.rps, b3.rps, "B3",
                   f"{result.text()}; {len(paths)} random dates for {sf.median}")
    ctx.report.put("4m", backend, mb(result.hwm_kib),
                   detail=f"VmHWM {mb(result.hwm_kib) or 0:,.0f} MB (peak of the process's life); VmRSS highest "
                          f"while serving {mb(result.max_rss_kib) or 0:,.0f} MB, after the window "
                          f"{mb(rss_now) or 0:,.0f} MB")
    if result.non2xx:
        ctx.report.notes.append(f"4l ({backend}): {result.non2xx} non-2xx answers")


# --- target 7: webhooks ----------------------------------------------------------------------


def target_webhooks(ctx: Ctx, backend: str) -> None:
    a = ctx.args
    wargs = argparse.Namespace(
        facts=a.webhook_facts, backend=backend, rate=50.0, seconds=a.seconds, warmup_facts=25, connections=16,
        baseline_seconds=max(2.0, a.seconds / 2), settle=1.0 if a.quick else 2.0, wait_idle=a.wait_idle, keep=a.keep,
    )
    workdir = ctx.workdir / f"webhooks-{backend}"
    workdir.mkdir()
    pg_url = ctx.pg.fresh("webhooks") if backend == "postgres" and ctx.pg else ""
    figures: dict[str, Any] = {}
    notes: list[str] = []
    progress(f"  webhooks ({backend}): latency at 50/s for {a.seconds:g} s, then {a.webhook_facts:,} facts in "
             "batches (bench.webhooks; its report follows on standard error) ...")
    try:
        with contextlib.redirect_stdout(sys.stderr):
            code = webhooks.run(wargs, pg_url, workdir, {}, notes, figures)
    finally:
        if pg_url and ctx.pg:
            ctx.pg.done(pg_url)
    if code != 0 or not figures.get("exactly_once"):
        ctx.report.failed = True
    for note in notes:
        ctx.report.notes.append(f"webhooks ({backend}): {note}")
    once = "every fact delivered exactly once" if figures.get("exactly_once") else "MISMATCH in the delivery accounting"
    ctx.report.put("7a", backend, figures.get("latency_p50_ms"),
                   detail=f"{figures.get('latency_facts')} facts POSTed one at a time at {figures.get('rate', 0):.1f}/s; "
                          f"p99 {fmt_ms(figures.get('latency_p99_ms'))} ms; {once} ({figures.get('facts_posted')} facts)")
    ctx.report.put("7b", backend, figures.get("deliveries_per_s"), figures.get("raw_capacity"), "receiver raw",
                   f"{figures.get('deliveries')} deliveries from the first batch POST to the last arrival; "
                   f"first -> last arrival {figures.get('span_rate') or 0:,.0f}/s; the receiver's raw capacity "
                   f"(asyncio+httpx client) {figures.get('raw_capacity') or 0:,.0f} req/s, the dispatcher's client "
                   f"shape {figures.get('client_shape') or 0:,.0f} req/s")


# --- output ---------------------------------------------------------------------------------


def print_report(report: Report, args: argparse.Namespace) -> None:
    header, rows = report.rows()
    print()
    print(f"Benchmark suite ({'quick' if args.quick else 'full'} sizes): {args.facts:,} facts in the state store, "
          f"{args.import_facts:,} to import, {args.warmup:g} s warm-up + {args.seconds:g} s per HTTP target, "
          f"{args.connections} connections")
    print()
    table(header, rows, left=2)
    for backend, curve in report.curve.items():
        print()
        print(f"5 cost growth ({BACKEND_NAMES[backend]}): the same store, growing; in-process, ms")
        table(CURVE_HEADER, curve, left=0)
    for title, items in (("Baselines", report.baselines), ("Details", report.sorted_details())):
        if items:
            print()
            print(f"{title}:")
            for key, backend, text in items:
                print(f"  {key} [{BACKEND_NAMES.get(backend, 'any')}]: {text}")
    if report.notes:
        print()
        print("Notes:")
        for note in report.notes:
            print(f"  - {note}")
    print()
    for key, value in report.info.items():
        print(f"{key + ':':18}{value}")


CURVE_HEADER = ("facts", "load s", "append p50", "append p99", "state p50", "state p99", "median actor (facts)",
                "busiest share")


def markdown(report: Report, args: argparse.Namespace) -> str:
    def md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
        esc = [tuple(c.replace("|", "\\|") for c in r) for r in (header, *rows)]
        return ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header),
                *("| " + " | ".join(r) + " |" for r in esc[1:])]

    out = [f"# Benchmark suite, {report.info.get('date', '')}", "",
           f"`python -m bench{''.join(' ' + a for a in args.argv)}`", "",
           *md_table(("machine", ""), [(k, v) for k, v in report.info.items()]), "", "## Targets", "",
           *md_table(*report.rows())]
    for backend, curve in report.curve.items():
        out += ["", f"## 5 cost growth ({BACKEND_NAMES[backend]})", "",
                ("The same store, growing; in-process: `record_facts([one])` and the median actor's "
                 "`actor_state` (current), ms."), "", *md_table(CURVE_HEADER, curve)]
    for title, items in (("Baselines", report.baselines), ("Details", report.sorted_details())):
        if items:
            out += ["", f"## {title}", ""]
            out += [f"- **{key}** ({BACKEND_NAMES.get(backend, 'any backend')}): {text}" for key, backend, text in items]
    if report.notes:
        out += ["", "## Notes", "", *(f"- {note}" for note in report.notes)]
    return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------


TARGETS = (1, 2, 3, 4, 5, 7)


def parse_only(text: str | None) -> set[int]:
    if not text:
        return set(TARGETS)
    chosen: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part == "6":  # memory: the import's peak RSS (2d) and the server's (4m)
            chosen |= {2, 4}
            continue
        if not part.isdigit() or int(part) not in TARGETS:
            raise argparse.ArgumentTypeError(f"unknown target {part!r}: choose among 1,2,3,4,5,6,7")
        chosen.add(int(part))
    return chosen


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--facts", type=int, help="facts in the state store of targets 4 and 5 (default 1000000; "
                        "--quick 20000)")
    parser.add_argument("--import-facts", type=int, help="N, the facts of the import file (default 200000; "
                        "--quick 5000); 2N are imported too for the memory check")
    parser.add_argument("--seconds", type=float, help="measured window of each HTTP target and of B2's one-row "
                        "commits (default 10; --quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up before each HTTP window (default 3; --quick 1)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--only", type=parse_only, default=None,
                        help="comma list of targets to run (1,2,3,4,5,7; 6 = the memory rows, i.e. 2 and 4)")
    parser.add_argument("--markdown", type=Path, help="also write the report as Markdown to this file")
    parser.add_argument("--zipf", type=float, default=ZIPF,
                        help=f"actor popularity exponent (default {ZIPF}: the busiest actor in ~5%% of the facts)")
    parser.add_argument("--wait-idle", type=float, default=None,
                        help="before each measurement, wait up to this many seconds for a quiet machine "
                             "(default 20; --quick 0)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, SQLite files, wrk scripts) "
                        "and the PostgreSQL databases")
    args = parser.parse_args(argv)
    args.argv = argv
    quick = args.quick
    defaults = {"facts": (1_000_000, 20_000), "import_facts": (200_000, 5_000), "seconds": (10.0, 3.0),
                "warmup": (3.0, 1.0), "wait_idle": (20.0, 0.0)}
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    args.only = args.only or set(TARGETS)
    args.queries = 100 if quick else 300
    args.query_warmup = 10 if quick else 20
    args.query_seconds = 5.0 if quick else 30.0
    args.appends = 50 if quick else 200
    args.webhook_facts = 1000 if quick else 2000
    if not (1_000 <= args.facts <= 5_000_000 and 1_000 <= args.import_facts <= 2_000_000
            and 1 <= args.seconds <= 600 and 0 <= args.warmup <= 60 and 1 <= args.connections <= 256):
        parser.error("need 1000 <= --facts <= 5000000, 1000 <= --import-facts <= 2000000, 1 <= --seconds <= 600, "
                     "0 <= --warmup <= 60, 1 <= --connections <= 256")
    return args


def work_folder(keep: bool) -> contextlib.AbstractContextManager[Path]:
    return shared_workspace(keep, "bench-suite-", progress)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    report = Report(backends)
    pg: PgDatabases | None = None
    if "postgres" in backends:
        given = os.environ.get("TIMELINE_BENCH_POSTGRES_URL", "")
        if given and bench_postgres_url("postgres", "") is None:
            return 2
        if not given and shutil.which("psql") is None:
            print("--backend postgres needs psql (to create a throwaway database) or TIMELINE_BENCH_POSTGRES_URL",
                  file=sys.stderr)
            return 2
        pg = PgDatabases(given or None, args.keep)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    started = time.monotonic()
    report.info.update(machine_info())
    report.info["run"] = (f"{'--quick sizes' if args.quick else 'full sizes'}: state store {args.facts:,} facts over "
                          f"{ACTORS:,} actors (Zipf s={args.zipf:g}), import N={args.import_facts:,}, HTTP targets "
                          f"{args.warmup:g} s warm-up + {args.seconds:g} s, {args.connections} connections")
    code = 0
    try:
        with work_folder(args.keep) as workdir:
            ctx = Ctx(args, workdir, report, None, pg)
            if args.only & {1, 4}:
                ctx.wrk = resolve_wrk(report)
            phases: list[tuple[set[int], list[str], Callable[[Ctx, str], None]]] = [
                ({1}, ["1"], target_appends),
                ({2, 3}, ["2a", "2b", "2c", "2d", "3"], target_import),
                ({4, 5}, [s.key for s in SPECS if s.key.startswith("4")], target_state),
                ({7}, ["7a", "7b"], target_webhooks),
            ]
            for targets, keys, run in phases:
                if not args.only & targets:
                    continue
                for backend in backends:
                    progress(f"target {'/'.join(str(t) for t in sorted(args.only & targets))} ({backend}) "
                             f"[{time.monotonic() - started:.0f} s] ...")
                    try:
                        run(ctx, backend)
                    except BenchError as exc:
                        progress(f"  failed: {exc}")
                        report.fail([k for k in keys if int(k[0]) in args.only], backend, str(exc).splitlines()[0])
                        stop_all()
            report.info["date"] = (f"{report.info['date']} to {dt.datetime.now(dt.UTC).strftime('%H:%M:%S UTC')} "
                                   f"({time.monotonic() - started:.0f} s)")
            describe_backends(report, backends, pg)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        report.notes.insert(0, "the run was interrupted: the figures are partial")
        code = 130
    finally:
        stop_all()
        if pg is not None:
            pg.drop_all()
    print_report(report, args)
    if args.markdown:
        args.markdown.write_text(markdown(report, args))
        progress(f"wrote {args.markdown}")
    if code == 0 and report.failed:
        code = 1
    return code


def describe_backends(report: Report, backends: list[str], pg: PgDatabases | None) -> None:
    from importlib.metadata import version

    stores = {"sqlite": f"eventsourcing.sqlite on SQLite {sqlite3.sqlite_version} (WAL, synchronous left at FULL)",
              "postgres": "eventsourcing.postgres (psycopg)"}
    report.info["event store"] = f"eventsourcing {version('eventsourcing')}; " + "; ".join(stores[b] for b in backends)
    if "postgres" in backends and pg is not None:
        url = pg.given or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        where = "the given database, wiped per phase" if pg.given else "a throwaway database per phase"
        report.info["postgresql"] = f"{postgres_server_version(url)} on 127.0.0.1 ({where})"
    report.info["httpx"] = httpx.__version__


if __name__ == "__main__":
    sys.exit(main())
