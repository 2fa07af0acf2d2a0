"""HTTP load on a server: wrk (or bench.loadgen when wrk cannot be had) for a warm-up and a
measured window, the server's and the client's CPU, and the HTTP baselines B1 and B3."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.common.errors import BenchError
from bench.common.machine import (
    RssWatch,
    group_cpu_seconds,
    machine_busy_ticks,
    ncpu,
    wait_for_quiet,
)
from bench.common.processes import (
    Finished,
    ServiceProcess,
    clean_env,
    log_tail,
    reap,
    start_child,
    start_server,
    stop,
    stop_server,
)
from bench.common.stats import fmt_ms, fmt_pct, progress
from bench.loadgen import make_body
from bench.report import Report
from bench.targets.context import DISTURBED_PCT, Ctx

RESULT_MARK = "SUITE_RESULT "


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
        return (
            f"{self.rps:,.0f} req/s, p50 {fmt_ms(self.p50_ms)} / p99 {fmt_ms(self.p99_ms)} ms, "
            f"non-2xx {self.non2xx}, socket errors {errors}; CPU: server {fmt_pct(self.server_cpu)}, "
            f"client {fmt_pct(self.client_cpu)}, other {fmt_pct(self.other_cpu)} ({self.tool})"
        )


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


def lua_headers(token: str, json_body: bool, extra: dict[str, str] | None = None) -> str:
    pairs = [f'["Authorization"] = "Bearer {token}"'] if token else []
    if json_body:
        pairs.append('["Content-Type"] = "application/json"')
    pairs += [f'["{k}"] = [==[{v}]==]' for k, v in (extra or {}).items()]
    return "{" + ", ".join(pairs) + "}"


def post_script(token: str) -> str:
    """A wrk script whose every request is a unique, valid StatementIssued fact (bench.loadgen's body)."""
    prefix = uuid_prefix()
    event_id, body = make_body(prefix[:8], 0, 0)
    head, tail = body.decode().split(event_id)
    return (
        f"""
local counter = 0
local head = [==[{head}]==]
local tail = [==[{tail}]==]
local headers = {lua_headers(token, True)}
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/events", headers, head .. string.format("{prefix}%012x", counter) .. tail)
end
"""
        + WRK_DONE
    )


def get_script(paths: list[str], token: str, extra_headers: dict[str, str] | None = None) -> str:
    listed = ",\n  ".join(f'"{p}"' for p in paths)
    return (
        f"""
local paths = {{
  {listed}
}}
local i = 0
local headers = {lua_headers(token, False, extra_headers)}
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
"""
        + WRK_DONE
    )


def wrk_once(
    ctx: Ctx, server: ServiceProcess, base: str, script: str, seconds: float, label: str
) -> tuple[dict[str, Any], Finished, float | None, float | None]:
    """One wrk run: its done() figures, its own run (CPU), the server's CPU and everything else's (% of a core)."""
    path = ctx.workdir / f"{label}.lua"
    path.write_text(script)
    duration = max(1, round(seconds))
    argv = [
        ctx.wrk or "wrk",
        "-t1",
        f"-c{ctx.args.connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(path),
        base,
    ]
    cpu0, busy0 = group_cpu_seconds(server.process.pid), machine_busy_ticks()
    started = time.monotonic()
    child = start_child(f"wrk-{label}", argv, clean_env(), ctx.workdir / f"wrk-{label}.log")
    done = reap(child, started, duration + 60)
    cpu1, busy1 = group_cpu_seconds(server.process.pid), machine_busy_ticks()
    out = child.log_path.read_text(errors="replace")
    lines = [line for line in out.splitlines() if line.startswith(RESULT_MARK)]
    if done.code != 0 or not lines:
        raise BenchError(f"wrk failed (exit {done.code})\n{log_tail(child)}")
    result = orjson.loads(lines[-1][len(RESULT_MARK) :])
    server_cpu = None if cpu0 is None or cpu1 is None else 100 * (cpu1 - cpu0) / done.wall_s
    other = None
    if busy0 and busy1 and busy1[1] > busy0[1] and server_cpu is not None:
        busy = 100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]) * ncpu()
        other = max(0.0, busy - server_cpu - 100 * done.cpu_s / done.wall_s)
    return result, done, server_cpu, other


def drive(
    ctx: Ctx,
    server: ServiceProcess,
    base: str,
    label: str,
    *,
    token: str = "",
    paths: list[str] | None = None,
    script: str | None = None,
) -> Load:
    """A warm-up, then the measured window, of POSTs of unique facts (no paths) or GETs of paths;
    with wrk, ``script`` (a GET script) instead of the paths' (bench.loadgen then GETs paths[0])."""
    result = _drive(ctx, server, base, label, token, paths, script)
    if result.other_cpu is not None and result.other_cpu > DISTURBED_PCT and "postgres" not in label:
        ctx.report.notes.append(
            f"{label}: other processes used {result.other_cpu:.0f}% of a core during the window; "
            "that figure is disturbed"
        )
    return result


def _drive(
    ctx: Ctx, server: ServiceProcess, base: str, label: str, token: str, paths: list[str] | None, given: str | None
) -> Load:
    ctx.quiet(label)
    progress(
        f"  {label}: {ctx.args.warmup:g} s warm-up + {ctx.args.seconds:g} s, "
        f"{ctx.args.connections} connections ({'wrk' if ctx.wrk else 'bench.loadgen'}) ..."
    )
    if ctx.wrk:
        ok_total = 0
        if ctx.args.warmup > 0:
            script = given or (post_script(token) if paths is None else get_script(paths, token))
            warm, _, _, _ = wrk_once(ctx, server, base, script, ctx.args.warmup, f"{label}-warmup")
            ok_total += warm["requests"] - warm["non2xx"]
        script = given or (post_script(token) if paths is None else get_script(paths, token))
        with RssWatch(server.process.pid) as rss:
            r, done, server_cpu, other = wrk_once(ctx, server, base, script, ctx.args.seconds, label)
        ok = r["requests"] - r["non2xx"]
        ok_total += ok
        seconds = r["duration_us"] / 1e6
        return Load(
            tool="wrk",
            rps=ok / seconds if seconds else 0.0,
            p50_ms=r["p50_us"] / 1000,
            p99_ms=r["p99_us"] / 1000,
            non2xx=r["non2xx"],
            socket_errors={k: r[k] for k in ("connect", "read", "write", "timeout")},
            ok_total=ok_total,
            client_cpu=100 * done.cpu_s / done.wall_s,
            server_cpu=server_cpu,
            other_cpu=other,
            max_rss_kib=rss.max_rss_kib,
            hwm_kib=rss.hwm_kib,
        )
    ns = argparse.Namespace(
        connections=ctx.args.connections,
        warmup=ctx.args.warmup,
        seconds=ctx.args.seconds,
        request_timeout=30.0,
        shared_pool=False,
        wait_idle=0,
    )
    with RssWatch(server.process.pid) as rss:
        if paths is None:
            r = run_load(server, base, ns, ctx.workdir, token)
        else:
            r = run_load(server, base, ns, ctx.workdir, token, path=paths[0], get=True)
    window = r["errors_in_window"]
    return Load(
        tool="bench.loadgen",
        rps=r["requests_per_s"],
        p50_ms=r["p50_ms"],
        p99_ms=r["p99_ms"],
        non2xx=sum(v for k, v in window.items() if k.startswith("HTTP ")),
        socket_errors={k: v for k, v in window.items() if not k.startswith("HTTP ")},
        ok_total=sum(v for k, v in r["status_total"].items() if k.startswith("2")),
        client_cpu=r["loadgen_cpu_pct"],
        server_cpu=r["server_cpu_pct"],
        other_cpu=other_cpu_pct(r),
        max_rss_kib=rss.max_rss_kib,
        hwm_kib=rss.hwm_kib,
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
            report.notes.append(
                f"could not install wrk ({exc}); bench.loadgen (asyncio + httpx in another "
                "process) drove the HTTP targets instead"
            )
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


def random_at_script(path: str, param: str, first_s: int, last_s: int, token: str, seed: int) -> str:
    """GETs of ``path`` with ``param`` a random second in [first_s, last_s] per request, so that no
    two requests are likely to ask the same thing (an answer cache cannot serve the window)."""
    joiner = "&" if "?" in path else "?"
    return (
        f"""
math.randomseed({seed})
local prefix = [==[{path}{joiner}{param}=]==]
local headers = {lua_headers(token, False)}
request = function()
  return wrk.format("GET", prefix .. os.date("!%Y-%m-%dT%H:%M:%SZ", math.random({first_s}, {last_s})), headers)
end
"""
        + WRK_DONE
    )


# --- baselines ------------------------------------------------------------------------------


def baseline_http(ctx: Ctx, which: str) -> Load:
    """B1 (POST echo) or B3 (GET /v1/ping), measured once per run and kept."""
    cached = ctx.b1 if which == "B1" else ctx.b3
    if cached is not None:
        return cached
    child, base = start_server(f"{which} baseline", None, "", ctx.workdir)
    try:
        result = drive(ctx, child, base, which, paths=None if which == "B1" else ["/v1/ping"])
    finally:
        stop_server(child, ctx.report.notes)
    what = (
        "FastAPI+uvicorn echo of a fact-sized POST (pydantic validation, 201)"
        if which == "B1"
        else "FastAPI+uvicorn GET /v1/ping, small JSON object"
    )
    ctx.report.baselines.append((which, "-", f"{what}: {result.text()}"))
    if result.non2xx or any(result.socket_errors.values()):
        ctx.report.notes.append(f"{which}: errors in the window ({result.non2xx} non-2xx, {result.socket_errors})")
    if which == "B1":
        ctx.b1 = result
    else:
        ctx.b3 = result
    return result


# --- bench.loadgen, in its own process ------------------------------------------------------


def run_load(
    child: ServiceProcess,
    base: str,
    args: argparse.Namespace,
    workdir: Path,
    token: str,
    path: str = "/v1/events",
    get: bool = False,
) -> dict[str, Any]:
    """Drive ``child`` with bench/loadgen.py in its own process: POSTs of unique facts to ``path``
    (or GETs of ``path`` with ``get``); the load generator's JSON result."""
    quiet_before: float | None = None
    was_quiet = True
    if args.wait_idle > 0:
        was_quiet, quiet_before = wait_for_quiet(args.wait_idle)
    out = workdir / f"load-{child.name.split()[0]}.json"
    argv = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        f"{base}{path}",
        "--connections",
        str(args.connections),
        "--warmup",
        str(args.warmup),
        "--seconds",
        str(args.seconds),
        "--request-timeout",
        str(args.request_timeout),
        "--server-pid",
        str(child.process.pid),
        "--run-id",
        uuid.uuid4().hex[:8],
        "--out",
        str(out),
    ]
    if token:
        argv += ["--token", token]
    if args.shared_pool:
        argv.append("--shared-pool")
    if get:
        argv.append("--get")
    limit = args.warmup + args.seconds + args.request_timeout + 60
    loadgen = start_child("loadgen", argv, clean_env(), workdir / f"loadgen-{child.name.split()[0]}.log")
    try:
        loadgen.process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the load generator did not finish within {limit:.0f} s") from None
    finally:
        code = stop(loadgen)
    if code != 0 or not out.exists():
        raise BenchError(f"the load generator failed (exit {code})\n{log_tail(loadgen)}")
    result = orjson.loads(out.read_bytes())
    result["machine_busy_before_pct"] = quiet_before
    result["machine_quiet_before"] = was_quiet
    return result


def other_cpu_pct(r: dict[str, Any]) -> float | None:
    """CPU used during the window by everything but the server and the load generator, in % of one core
    (a database server's processes included)."""
    if r["machine_busy_pct"] is None or r["server_cpu_pct"] is None or r["loadgen_cpu_pct"] is None:
        return None
    return max(0.0, r["machine_busy_pct"] * ncpu() - r["server_cpu_pct"] - r["loadgen_cpu_pct"])
