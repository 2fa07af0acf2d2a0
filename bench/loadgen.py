"""Closed-loop HTTP load generator: asyncio + httpx.AsyncClient, N keep-alive connections.

(``--get`` sends GET requests to the URL instead, for read targets.)

Run as its own process (``python -m bench.loadgen ...``) so that it does not
share an interpreter (and a GIL) with the server it measures. Each of the N
workers sends one ``POST`` at a time, with a unique fact body every time, over
its own keep-alive connection: by default each worker has its own AsyncClient
limited to one connection (N connections in all); ``--shared-pool`` uses one
AsyncClient whose pool holds the N connections instead, which costs the client
about twice the CPU per request (see the comment in ``run``).

Phases: warm-up (answers are not measured), then the measured window of a fixed
duration, then a drain in which no new request starts and the in-flight ones
finish. Only requests that *complete* inside the measured window count towards
throughput and latency. Every 201 over the whole run (warm-up and drain
included) is tallied, with its ``event_id`` and ``position``, so that the
caller can compare it with what the store holds.

The result is one JSON document written to ``--out`` (or standard output).
Only 127.0.0.1 / localhost / ::1 targets are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore tries `import sniffio` on every lock it sets up and treats ImportError as
    # "asyncio". Without sniffio installed each failed import searches sys.path again, which
    # cost this process about a third of its CPU. A None entry fails the import at once,
    # with the same outcome.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

import httpx
import orjson

from bench.common.machine import (
    busy_pct,
    cpu_seconds_of,
    machine_busy_ticks,
    own_cpu_seconds,
)
from bench.common.processes import LOOPBACK_HOSTS
from bench.common.stats import pct


@dataclass
class State:
    run_id: str
    t_measure: float = 0.0
    t_end: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # 2xx completed in the window
    ok_in_window: int = 0
    errors_in_window: Counter[str] = field(default_factory=Counter)
    status_total: Counter[int] = field(default_factory=Counter)
    exceptions_total: Counter[str] = field(default_factory=Counter)
    created_ids: list[str] = field(default_factory=list)
    max_position: int = 0
    sent_total: int = 0
    first_error_bodies: list[str] = field(default_factory=list)


def make_body(run_id: str, worker: int, seq: int) -> tuple[str, bytes]:
    """A unique, valid StatementIssued fact (about 500 bytes of JSON)."""
    event_id = str(uuid.uuid4())
    minute = seq % 60
    hour = 10 + (seq // 60) % 12
    body = {
        "event_id": event_id,
        "type": "StatementIssued",
        "occurred_at": f"2020-01-07T{hour:02d}:{minute:02d}:00Z",
        "summary": f"Benchmark statement {run_id}/{worker}/{seq}",
        "actors": [{"id": "nato", "role": "speaker"}],
        "text": f"Load test statement number {seq} from worker {worker} of run {run_id}.",
        "channel": "statement",
        "sources": [
            {
                "url": f"https://example.org/bench/{run_id}/{worker}/{seq}",
                "publisher": "Benchmark Wire",
            }
        ],
        "confidence": "reported",
    }
    return event_id, orjson.dumps(body)


async def worker(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], state: State, wid: int, get: bool = False
) -> None:
    seq = 0
    while True:
        start = time.perf_counter()
        if start >= state.t_end:
            return
        event_id, body = ("", b"") if get else make_body(state.run_id, wid, seq)
        seq += 1
        state.sent_total += 1
        try:
            if get:
                response = await client.get(path, headers=headers)
            else:
                response = await client.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:  # timeouts, refused or reset connections
            done = time.perf_counter()
            state.exceptions_total[type(exc).__name__] += 1
            if state.t_measure <= done <= state.t_end:
                state.errors_in_window[type(exc).__name__] += 1
            await asyncio.sleep(0.01)  # do not spin on a dead server
            continue
        done = time.perf_counter()
        status = response.status_code
        state.status_total[status] += 1
        if status == 201 and not get:
            state.created_ids.append(event_id)
            try:
                position = orjson.loads(response.content).get("position")
            except (orjson.JSONDecodeError, AttributeError):
                position = None
            if isinstance(position, int) and position > state.max_position:
                state.max_position = position
        elif not 200 <= status < 300 and len(state.first_error_bodies) < 5:
            state.first_error_bodies.append(f"{status}: {response.text[:300]}")
        if state.t_measure <= done <= state.t_end:
            if 200 <= status < 300:
                state.ok_in_window += 1
                state.latencies_ms.append((done - start) * 1000.0)
            else:
                state.errors_in_window[f"HTTP {status}"] += 1


async def open_clients(
    stack: contextlib.AsyncExitStack, args: argparse.Namespace, base: str
) -> list[httpx.AsyncClient]:
    """The workers' clients: by default one per worker, each with one keep-alive connection."""
    timeout = httpx.Timeout(args.request_timeout)
    if args.shared_pool:
        # One client whose pool holds the N keep-alive connections.
        limits = httpx.Limits(
            max_connections=args.connections, max_keepalive_connections=args.connections, keepalive_expiry=60
        )
        shared = await stack.enter_async_context(
            httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, trust_env=False)
        )
        clients = [shared] * args.connections
    else:
        # One client per worker, each limited to one keep-alive connection: N in all. httpcore's
        # pool scans every connection (with a poll() each) on every request, so one pool of 16
        # costs the client about twice the CPU per request (measured: 597 vs 1380 requests/s
        # against B1 on a 2-core machine, the load generator at ~90% of a core both times).
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, trust_env=False)
            )
            for _ in range(args.connections)
        ]
    return clients


Sample = tuple[float, float | None, tuple[int, int] | None, float]


def result(args: argparse.Namespace, state: State, cpu0: Sample, cpu1: Sample, unfinished: int) -> dict[str, Any]:
    """The JSON result: throughput and latency in the window, every status, CPU at the window's edges."""
    wall = cpu1[3] - cpu0[3]
    lat = sorted(state.latencies_ms)
    server_cpu = None
    if cpu0[1] is not None and cpu1[1] is not None:
        server_cpu = 100.0 * (cpu1[1] - cpu0[1]) / wall
    machine_busy = busy_pct(cpu0[2], cpu1[2])
    return {
        "url": args.url,
        "connections": args.connections,
        "client_pools": "one shared pool" if args.shared_pool else "one client per connection",
        "warmup_s": args.warmup,
        "window_s": wall,
        "requests_per_s": state.ok_in_window / wall if wall > 0 else 0.0,
        "ok_in_window": state.ok_in_window,
        "errors_in_window": dict(state.errors_in_window),
        "p50_ms": pct(lat, 50),
        "p90_ms": pct(lat, 90),
        "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "sent_total": state.sent_total,
        "status_total": {str(k): v for k, v in sorted(state.status_total.items())},
        "exceptions_total": dict(state.exceptions_total),
        "created_total": len(state.created_ids),
        "created_ids": state.created_ids,
        "max_position": state.max_position,
        "unfinished_requests": unfinished,
        "loadgen_cpu_pct": 100.0 * (cpu1[0] - cpu0[0]) / wall if wall > 0 else None,
        "server_cpu_pct": server_cpu,
        "machine_busy_pct": machine_busy,
        "first_error_bodies": state.first_error_bodies,
        "python": sys.version.split()[0],
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = urlsplit(args.url)
    if parts.hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing non-loopback target {args.url!r}")
    base = f"{parts.scheme}://{parts.netloc}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {} if args.get else {"content-type": "application/json"}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    state = State(run_id=args.run_id or uuid.uuid4().hex[:8])

    async with contextlib.AsyncExitStack() as stack:
        clients = await open_clients(stack, args, base)
        now = time.perf_counter()
        state.t_measure = now + args.warmup
        state.t_end = state.t_measure + args.seconds
        tasks = [
            asyncio.create_task(worker(clients[w], path, headers, state, w, args.get)) for w in range(args.connections)
        ]

        # Sample CPU counters at the window's edges.
        await asyncio.sleep(max(0.0, state.t_measure - time.perf_counter()))
        cpu0 = (own_cpu_seconds(), cpu_seconds_of(args.server_pid), machine_busy_ticks(), time.perf_counter())
        await asyncio.sleep(max(0.0, state.t_end - time.perf_counter()))
        cpu1 = (own_cpu_seconds(), cpu_seconds_of(args.server_pid), machine_busy_ticks(), time.perf_counter())

        done, pending = await asyncio.wait(tasks, timeout=args.request_timeout + 5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        unfinished = len(pending)
        for task in done:
            if task.exception() is not None:
                state.exceptions_total[f"worker crashed: {task.exception()!r}"] += 1

    return result(args, state, cpu0, cpu1, unfinished)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="closed-loop POST load generator (loopback only)")
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8001/v1/events")
    parser.add_argument("--token", default="", help="bearer token")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--server-pid", type=int, default=None, help="sample this process's CPU time")
    parser.add_argument(
        "--shared-pool",
        action="store_true",
        help="one AsyncClient with a pool of N connections instead of N clients of one connection each",
    )
    parser.add_argument("--get", action="store_true", help="send GET requests to --url instead of POSTing facts")
    parser.add_argument("--run-id", default="")
    parser.add_argument("--out", default="-", help="result JSON file; - for standard output")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("connections >= 1, seconds > 0, warmup >= 0")
    try:
        import uvloop  # comes with uvicorn[standard]; the servers run on it too
    except ImportError:
        result = asyncio.run(run(args))
        result["event_loop"] = "asyncio"
    else:
        result = uvloop.run(run(args))
        result["event_loop"] = f"uvloop {uvloop.__version__}"
    data = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    if args.out == "-":
        sys.stdout.buffer.write(data + b"\n")
    else:
        with open(args.out, "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
