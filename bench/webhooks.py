"""Webhook delivery: append-to-delivery latency and deliveries per second, against a local receiver.

    .venv/bin/python -m bench.webhooks [--facts 2000] [--backend sqlite|postgres]

In one run it starts, each on a free port on 127.0.0.1 and each in its own process:

* a receiver — a minimal HTTP/1.1 server (asyncio, uvloop and httptools when installed) that
  answers every ``POST`` with 204 and records, per request, its arrival time (CLOCK_MONOTONIC,
  which every process on the machine shares), its ``webhook-id`` header and the body's
  ``data.position`` and ``data.event.event_id``;
* the service — ``python -m service serve`` on a fresh database (SQLite: a new file in a
  temporary folder; PostgreSQL: the URL in ``TIMELINE_BENCH_POSTGRES_URL``), token ``bench:admin``,
  ``TIMELINE_WEBHOOK_ALLOW_HOSTS=127.0.0.1``, with one subscription to the receiver;

then measures

1. latency: facts POSTed one at a time at a steady rate (default 50/s for 10 s, after a short
   warm-up); for each, the time from its 201 to the receiver's arrival of its first delivery;
2. throughput: ``--facts`` facts recorded with ``POST /v1/events/batch`` (1,000 per batch), then
   the time until the receiver holds all their deliveries;
3. the receiver's raw capacity in the same run (the service stopped): a separate process POSTs a
   real delivery body to it over 16 keep-alive connections (asyncio + httpx), and once more in
   the dispatcher's own shape (one ``httpx.Client`` shared by 16 threads, Standard Webhooks
   signature computed per request, no database);

prints a table with the machine it ran on, and checks that every fact was delivered exactly once.
Every child process is ended before the command returns. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from bench.append_http import (
    BenchError,
    Child,
    _on_signal,
    bench_postgres_url,
    clean_env,
    free_port,
    libpq_url,
    log_problems,
    log_tail,
    machine_info,
    postgres_server_version,
    start_child,
    stop,
    stop_all,
    wait_for_quiet,
    wait_healthy,
)
from bench.append_http import workspace as shared_workspace
from bench.loadgen import (
    LOOPBACK_HOSTS,
    cpu_seconds_of,
    machine_busy_ticks,
    make_body,
    percentile,
)

TOKEN = "bench"
BATCH = 1000
HOOK_PATH = "/hook"
RAW_PATH = "/raw"
REQUEST_TIMEOUT_S = 60.0


# ============================================================================================
# The receiver (runs as `python -m bench.webhooks _receiver --port P`)
# ============================================================================================


_RESP_204 = b"HTTP/1.1 204 No Content\r\nserver: bench-receiver\r\n\r\n"
_RESP_204_CLOSE = b"HTTP/1.1 204 No Content\r\nserver: bench-receiver\r\nconnection: close\r\n\r\n"


class _Records:
    """What arrived, per path: lists of (webhook-id, arrival ns, position, event_id)."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[tuple[str | None, int, int | None, str | None]]] = {
            HOOK_PATH: [], RAW_PATH: [],
        }
        self.distinct: dict[str, set[str | None]] = {HOOK_PATH: set(), RAW_PATH: set()}
        self.sample: bytes = b""
        self.bad = 0


def _ok(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


class _ReceiverProtocol(asyncio.Protocol):
    def __init__(self, records: _Records, parser_cls: Any) -> None:
        self.records = records
        self.parser = parser_cls(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.webhook_id: str | None = None
        self.body: list[bytes] = []

    # asyncio
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # a malformed request: drop the connection
            self.records.bad += 1
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.webhook_id = None
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self.webhook_id = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        arrived = time.monotonic_ns()
        assert self.transport is not None
        method = self.parser.get_method()
        path, _, query = self.url.decode("latin-1").partition("?")
        keep_alive = self.parser.should_keep_alive()
        if method == b"POST":
            body = b"".join(self.body)
            position = event_id = None
            try:
                data = orjson.loads(body)["data"]
                position = data.get("position")
                event_id = data.get("event", {}).get("event_id")
            except Exception:
                self.records.bad += 1
            bucket = path if path in self.records.by_path else RAW_PATH
            self.records.by_path[bucket].append((self.webhook_id, arrived, position, event_id))
            self.records.distinct[bucket].add(self.webhook_id)
            if bucket == HOOK_PATH:
                self.records.sample = body
            self.transport.write(_RESP_204 if keep_alive else _RESP_204_CLOSE)
        elif path == "/count":
            self.transport.write(_ok(orjson.dumps({
                p: {"n": len(rows), "distinct": len(self.records.distinct[p])}
                for p, rows in self.records.by_path.items()
            } | {"bad": self.records.bad})))
        elif path == "/dump":
            wanted = unquote(query.partition("path=")[2]) or HOOK_PATH
            self.transport.write(_ok(orjson.dumps(self.records.by_path.get(wanted, []))))
        elif path == "/sample":
            self.transport.write(_ok(self.records.sample))
        elif path == "/healthz":
            self.transport.write(_ok(b"{}"))
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        if not keep_alive:
            self.transport.close()


def receiver_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks _receiver")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        import httptools  # uvicorn's fast parser
    except ImportError:
        print("the receiver needs httptools (pip install httptools)", file=sys.stderr)
        return 2
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    records = _Records()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        server = await loop.create_server(
            lambda: _ReceiverProtocol(records, httptools.HttpRequestParser), "127.0.0.1", args.port, backlog=1024
        )
        print(f"receiver on 127.0.0.1:{args.port} ({type(loop).__module__})", flush=True)
        async with server:
            await stopping.wait()

    asyncio.run(serve())
    return 0


# ============================================================================================
# The raw-capacity client (runs as `python -m bench.webhooks _rawload ...`)
# ============================================================================================


def _raw_headers(n: int, sig: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": f"raw_{n:032x}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": sig,
        "user-agent": "crisis-timeline-webhooks/1",
    }


async def _rawload_async(url: str, body: bytes, connections: int, warmup: float, seconds: float,
                         state: dict[str, Any]) -> None:
    parts = urlsplit(url)
    fake_sig = "v1," + base64.b64encode(os.urandom(32)).decode()  # the size of a real one
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    counter = iter(range(1 << 62))
    async with contextlib.AsyncExitStack() as stack:
        # One client per connection, as bench/loadgen.py does (one shared pool costs the client
        # about twice the CPU per request).
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(
                base_url=f"{parts.scheme}://{parts.netloc}", limits=limits, timeout=REQUEST_TIMEOUT_S,
                trust_env=False,
            ))
            for _ in range(connections)
        ]

        async def worker(client: httpx.AsyncClient) -> None:
            while time.monotonic() < state["t_end"]:
                try:
                    response = await client.post(parts.path, content=body, headers=_raw_headers(next(counter), fake_sig))
                except httpx.HTTPError as exc:
                    state["errors"][type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                done = time.monotonic()
                if state["t_measure"] <= done <= state["t_end"]:
                    if 200 <= response.status_code < 300:
                        state["ok"] += 1
                    else:
                        state["errors"][f"HTTP {response.status_code}"] += 1

        tasks = [asyncio.create_task(worker(c)) for c in clients]
        await asyncio.sleep(max(0.0, state["t_measure"] - time.monotonic()))
        state["cpu0"] = _cpu_sample(state["server_pid"])
        await asyncio.sleep(max(0.0, state["t_end"] - time.monotonic()))
        state["cpu1"] = _cpu_sample(state["server_pid"])
        _done, pending = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S + 5)
        for task in pending:
            task.cancel()


def _rawload_threads(url: str, body: bytes, connections: int, state: dict[str, Any]) -> None:
    """The dispatcher's HTTP path without its database: one httpx.Client shared by N threads,
    the same limits, and a Standard Webhooks signature computed for every request."""
    from standardwebhooks.webhooks import Webhook

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    client = httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False,
                          limits=httpx.Limits(max_connections=connections * 2))
    lock = threading.Lock()
    counter = iter(range(1 << 62))
    text = body.decode()

    def worker() -> None:
        while time.monotonic() < state["t_end"]:
            with lock:
                n = next(counter)
            at = dt.datetime.now(dt.UTC)
            msg_id = f"raw_{n:032x}"
            headers = _raw_headers(n, Webhook(secret).sign(msg_id, at, text))
            try:
                response = client.post(url, content=text.encode(), headers=headers)
            except httpx.HTTPError as exc:
                with lock:
                    state["errors"][type(exc).__name__] += 1
                time.sleep(0.01)
                continue
            done = time.monotonic()
            if state["t_measure"] <= done <= state["t_end"]:
                with lock:
                    if 200 <= response.status_code < 300:
                        state["ok"] += 1
                    else:
                        state["errors"][f"HTTP {response.status_code}"] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, state["t_measure"] - time.monotonic()))
    state["cpu0"] = _cpu_sample(state["server_pid"])
    time.sleep(max(0.0, state["t_end"] - time.monotonic()))
    state["cpu1"] = _cpu_sample(state["server_pid"])
    for thread in threads:
        thread.join(REQUEST_TIMEOUT_S + 5)
    client.close()


def _cpu_sample(server_pid: int | None) -> tuple[float, float | None, tuple[int, int] | None, float]:
    usage = os.times()
    return (usage.user + usage.system, cpu_seconds_of(server_pid), machine_busy_ticks(), time.monotonic())


def rawload_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks _rawload")
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=("async", "threads"), required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if urlsplit(args.url).hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing non-loopback target {args.url!r}")
    body = Path(args.body_file).read_bytes()
    now = time.monotonic()
    state: dict[str, Any] = {
        "t_measure": now + args.warmup, "t_end": now + args.warmup + args.seconds,
        "ok": 0, "errors": Counter(), "server_pid": args.server_pid,
    }
    if args.mode == "async":
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(_rawload_async(args.url, body, args.connections, args.warmup, args.seconds, state))
    else:
        _rawload_threads(args.url, body, args.connections, state)
    c0, c1 = state["cpu0"], state["cpu1"]
    wall = c1[3] - c0[3]
    result = {
        "mode": args.mode,
        "requests_per_s": state["ok"] / wall if wall > 0 else 0.0,
        "ok": state["ok"],
        "window_s": wall,
        "errors": dict(state["errors"]),
        "client_cpu_pct": 100.0 * (c1[0] - c0[0]) / wall if wall > 0 else None,
        "receiver_cpu_pct": (100.0 * (c1[1] - c0[1]) / wall) if wall > 0 and c0[1] is not None and c1[1] is not None
        else None,
        "machine_busy_pct": _busy_pct(c0[2], c1[2]),
        "body_bytes": len(body),
    }
    Path(args.out).write_bytes(orjson.dumps(result))
    return 0


def _busy_pct(b0: tuple[int, int] | None, b1: tuple[int, int] | None) -> float | None:
    if not b0 or not b1 or b1[1] <= b0[1]:
        return None
    return 100.0 * (b1[0] - b0[0]) / (b1[1] - b0[1])


# ============================================================================================
# The command
# ============================================================================================


def ncpu() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class CpuWindow:
    """CPU of given processes and of the whole machine between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.result: dict[str, float | None] = {}

    def start(self) -> CpuWindow:
        self._t0 = time.monotonic()
        self._c0 = {k: cpu_seconds_of(p) for k, p in self.pids.items()}
        self._own0 = _own_cpu()
        self._b0 = machine_busy_ticks()
        return self

    def stop(self) -> dict[str, float | None]:
        wall = time.monotonic() - self._t0
        c1 = {k: cpu_seconds_of(p) for k, p in self.pids.items()}
        own1 = _own_cpu()
        busy = _busy_pct(self._b0, machine_busy_ticks())
        out: dict[str, float | None] = {"wall_s": wall}
        for k in self.pids:
            a, b = self._c0[k], c1[k]
            out[k] = None if a is None or b is None or wall <= 0 else 100.0 * (b - a) / wall
        out["bench"] = 100.0 * (own1 - self._own0) / wall if wall > 0 else None
        known = [v for k, v in out.items() if k != "wall_s" and v is not None]
        out["other"] = None if busy is None else max(0.0, busy * ncpu() - sum(known))
        self.result = out
        return out


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def cpu_text(c: dict[str, float | None]) -> str:
    names = {"service": "service", "receiver": "receiver", "bench": "bench client", "other": "other"}
    return ", ".join(f"{names[k]} {c[k]:.0f}%" for k in names if c.get(k) is not None)


class Receiver:
    def __init__(self, child: Child, base: str) -> None:
        self.child = child
        self.base = base
        self.client = httpx.Client(base_url=base, timeout=30.0, trust_env=False)

    def count(self) -> dict[str, Any]:
        return self.client.get("/count").json()

    def dump(self, path: str = HOOK_PATH) -> list[tuple[str | None, int, int | None, str | None]]:
        return [tuple(r) for r in orjson.loads(self.client.get("/dump", params={"path": path}).content)]  # type: ignore[misc]

    def sample(self) -> bytes:
        return self.client.get("/sample").content

    def wait_for(self, n: int, timeout: float, poll: float = 0.02) -> tuple[bool, int]:
        """Wait until the receiver holds at least n deliveries on /hook."""
        deadline = time.monotonic() + timeout
        have = 0
        while True:
            if self.child.proc.poll() is not None:
                raise BenchError(f"the receiver exited with {self.child.proc.returncode}\n{log_tail(self.child)}")
            have = self.count()[HOOK_PATH]["n"]
            if have >= n:
                return True, have
            if time.monotonic() >= deadline:
                return False, have
            time.sleep(poll)


def post_json(client: httpx.Client, path: str, body: bytes, expect: int = 201) -> tuple[Any, int]:
    """POST; returns (answer JSON, monotonic ns when the answer was complete)."""
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    done = time.monotonic_ns()
    if response.status_code != expect:
        raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    return orjson.loads(response.content), done


def service_deliveries(client: httpx.Client, sub_id: str) -> dict[str, Any]:
    """The service's own view of the subscription's messages (GET .../deliveries, paged)."""
    statuses: Counter[str] = Counter()
    attempts_hist: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    cursor = None
    deadline = time.monotonic() + 120
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = client.get(f"/v1/subscriptions/{sub_id}/deliveries", params=params)
        if response.status_code != 200:
            raise BenchError(f"GET deliveries answered {response.status_code}: {response.text[:300]}")
        page = response.json()
        for item in page["items"]:
            statuses[item["status"]] += 1
            attempts_hist[len(item["attempts"])] += 1
            for attempt in item["attempts"]:
                codes[str(attempt["status_code"]) if attempt["status_code"] else (attempt["error"] or "?")[:60]] += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
        if time.monotonic() > deadline:
            raise BenchError("paging the deliveries took over 120 s")
    return {"statuses": dict(statuses), "attempts": dict(sorted(attempts_hist.items())), "codes": dict(codes)}


def run_raw(receiver: Receiver, mode: str, body_file: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out = workdir / f"raw-{mode}.json"
    argv = [
        sys.executable, "-m", "bench.webhooks", "_rawload", "--url", f"{receiver.base}{RAW_PATH}",
        "--mode", mode, "--body-file", str(body_file), "--connections", str(args.connections),
        "--warmup", "1", "--seconds", str(args.baseline_seconds), "--server-pid", str(receiver.child.proc.pid),
        "--out", str(out),
    ]
    child = start_child(f"raw-{mode}", argv, clean_env(), workdir / f"raw-{mode}.log")
    limit = 1 + args.baseline_seconds + REQUEST_TIMEOUT_S + 30
    try:
        child.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the raw-capacity client ({mode}) did not finish within {limit:.0f} s") from None
    finally:
        code = stop(child)
    if code != 0 or not out.exists():
        raise BenchError(f"the raw-capacity client ({mode}) failed (exit {code})\n{log_tail(child)}")
    return orjson.loads(out.read_bytes())


def workspace(keep: bool) -> contextlib.AbstractContextManager[Path]:
    return shared_workspace(keep, "bench-webhooks-")


def ms(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.1f}"


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    header = ("figure", "value", "how")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    print(f"{header[0].ljust(widths[0])}  {header[1].rjust(widths[1])}  {header[2]}")
    print(f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 40}")
    for name, value, how in rows:
        print(f"{name.ljust(widths[0])}  {value.rjust(widths[1])}  {how}".rstrip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_receiver"]:
        return receiver_main(argv[1:])
    if argv[:1] == ["_rawload"]:
        return rawload_main(argv[1:])

    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--facts", type=int, default=2000, help="facts for the throughput phase (default 2000)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0, help="facts per second in the latency phase (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase (default 10)")
    parser.add_argument("--warmup-facts", type=int, default=25,
                        help="facts sent at the same rate before the latency phase, not measured (default 25)")
    parser.add_argument("--connections", type=int, default=16,
                        help="connections / threads of the raw-capacity clients (default 16)")
    parser.add_argument("--baseline-seconds", type=float, default=5.0,
                        help="measured window of each raw-capacity client (default 5, after 1 s warm-up)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait after the last delivery for late duplicates (default 2)")
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="before each phase, wait up to this many seconds for the machine to be quiet "
                             "(<15%% busy for 2 s); 0 to skip (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if not (1 <= args.facts <= 100_000 and 0 < args.rate <= 1000 and 0 < args.seconds <= 600
            and 0 <= args.warmup_facts <= 10_000 and 1 <= args.connections <= 256 and 0 < args.baseline_seconds <= 120
            and 0 <= args.settle <= 60):
        parser.error("need 1 <= --facts <= 100000, 0 < --rate <= 1000, 0 < --seconds <= 600, "
                     "1 <= --connections <= 256, 0 < --baseline-seconds <= 120, 0 <= --settle <= 60")

    pg_url = bench_postgres_url(args.backend, "an empty database: the service's migrations create the tables")
    if pg_url is None:
        return 2

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    info: dict[str, str] = {}
    notes: list[str] = []
    exit_code = 0
    try:
        with workspace(args.keep) as workdir:
            exit_code = run(args, pg_url, workdir, info, notes)
    except BenchError as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        exit_code = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        exit_code = 130
    finally:
        stop_all()
    return exit_code


def quiet(args: argparse.Namespace, what: str, notes: list[str]) -> None:
    if args.wait_idle <= 0:
        return
    was_quiet, busy = wait_for_quiet(args.wait_idle)
    if not was_quiet:
        notes.append(f"{what}: the machine was still {busy:.0f}% busy with other work after waiting "
                     f"{args.wait_idle:g} s; its figures are disturbed")


def run(args: argparse.Namespace, pg_url: str, workdir: Path, info: dict[str, str], notes: list[str],
        figures: dict[str, Any] | None = None) -> int:
    """The three phases and the report; ``figures``, when given, receives the headline figures."""
    run_id = uuid.uuid4().hex[:8]

    # ---- the receiver ----
    rport = free_port()
    rbase = f"http://127.0.0.1:{rport}"
    rchild = start_child("receiver", [sys.executable, "-m", "bench.webhooks", "_receiver", "--port", str(rport)],
                         clean_env(), workdir / "receiver.log")
    wait_healthy(rchild, rbase)
    receiver = Receiver(rchild, rbase)

    # ---- the service ----
    if args.backend == "sqlite":
        db_url = f"sqlite:///{workdir / 'timeline.sqlite3'}"
        backend_desc = "SQLite file in a fresh temporary folder"
    else:
        db_url = pg_url
        backend_desc = f"PostgreSQL {postgres_server_version(pg_url)} at {libpq_url(pg_url).split('@')[-1]}"
    info.update(machine_info())  # here, so that "service commit" is the code the service starts with
    sport = free_port()
    sbase = f"http://127.0.0.1:{sport}"
    env = clean_env() | {
        "TIMELINE_DATABASE_URL": db_url,
        "TIMELINE_API_TOKENS": f"{TOKEN}:admin",
        "TIMELINE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    }
    svc = start_child(f"service ({args.backend})",
                      [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(sport)],
                      env, workdir / "service.log")
    pids = {"service": svc.proc.pid, "receiver": rchild.proc.pid}
    client = httpx.Client(base_url=sbase, timeout=REQUEST_TIMEOUT_S, trust_env=False,
                          headers={"authorization": f"Bearer {TOKEN}"})
    posted: dict[str, int] = {}  # event_id -> position in its 201
    lat_rows: list[tuple[str, int, int]] = []  # (event_id, ns sent, ns 201) of measured facts
    try:
        wait_healthy(svc, sbase)
        existing = client.get("/v1/subscriptions")
        if existing.status_code != 200:
            raise BenchError(f"GET /v1/subscriptions answered {existing.status_code}: {existing.text[:300]}")
        if existing.json()["items"]:
            raise BenchError("the database already has subscriptions; give an empty database")
        head = client.get("/v1/changes", params={"after": 0, "limit": 1})
        if head.status_code == 200 and head.json()["items"]:
            notes.append("the database was not empty (facts before the run; they are not delivered: the "
                         "subscription starts at the current position)")
        sub, _ = post_json(client, "/v1/subscriptions", orjson.dumps({"url": f"{rbase}{HOOK_PATH}"}))
        sub_id = sub["id"]
        print(f"receiver on {rbase}; service on {sbase} ({backend_desc}); subscription {sub_id}", flush=True)

        # ---- phase 1: latency at a steady rate ----
        quiet(args, "latency phase", notes)
        n_lat = max(1, int(round(args.rate * args.seconds)))
        interval_ns = int(1e9 / args.rate)
        print(f"latency: {args.warmup_facts} warm-up + {n_lat} facts, one at a time at {args.rate:g}/s ...", flush=True)
        lat_post_ns: list[int] = []
        late_sends = 0
        cpu_lat = CpuWindow(pids)
        t_start = time.monotonic_ns()
        for i in range(args.warmup_facts + n_lat):
            due = t_start + i * interval_ns
            now = time.monotonic_ns()
            if due > now:
                time.sleep((due - now) / 1e9)
            elif now - due > interval_ns:
                late_sends += 1
            if i == args.warmup_facts:
                cpu_lat.start()
                t_lat0 = time.monotonic_ns()
            event_id, body = make_body(run_id, 0, i)
            sent = time.monotonic_ns()
            fact, done = post_json(client, "/v1/events", body)
            posted[event_id] = fact["position"]
            if i >= args.warmup_facts:
                lat_rows.append((event_id, sent, done))
                lat_post_ns.append(done - sent)
        t_lat1 = time.monotonic_ns()
        ok, have = receiver.wait_for(len(posted), timeout=60.0)
        cpu_lat.stop()
        if not ok:
            notes.append(f"latency phase: only {have} of {len(posted)} deliveries within 60 s of the last POST")
        achieved_rate = n_lat / ((t_lat1 - t_lat0) / 1e9) if n_lat and t_lat1 > t_lat0 else 0.0

        # ---- phase 2: throughput after batches ----
        quiet(args, "throughput phase", notes)
        before = len(posted)
        bodies = []
        for i in range(args.facts):
            event_id, body = make_body(run_id, 1, i)
            bodies.append((event_id, body))
        batches = [bodies[i:i + BATCH] for i in range(0, len(bodies), BATCH)]
        print(f"throughput: {args.facts} facts in {len(batches)} batch(es) of up to {BATCH} ...", flush=True)
        tp_ids: set[str] = set()
        cpu_tp = CpuWindow(pids).start()
        t_tp0 = time.monotonic_ns()
        for batch in batches:
            payload = b'{"events":[' + b",".join(b for _, b in batch) + b"]}"
            answer, _ = post_json(client, "/v1/events/batch", payload)
            for (event_id, _), fact in zip(batch, answer["items"], strict=True):
                if fact["event_id"] != event_id:
                    raise BenchError("the batch answer is not in the order of the batch")
                posted[event_id] = fact["position"]
                tp_ids.add(event_id)
        t_tp_recorded = time.monotonic_ns()
        limit = max(60.0, args.facts / 10)
        ok, have = receiver.wait_for(len(posted), timeout=limit, poll=0.05)
        cpu_tp.stop()
        if not ok:
            notes.append(f"throughput phase: only {have - before} of {args.facts} deliveries within {limit:.0f} s "
                         "of the last batch")
        time.sleep(args.settle)  # late duplicates, if any
        deliveries = receiver.dump(HOOK_PATH)
        counts = receiver.count()
        svc_view = service_deliveries(client, sub_id)
    finally:
        client.close()
        svc_code = stop(svc)
    if svc_code not in (0, -signal.SIGTERM, None):
        notes.append(f"the service exited with {svc_code} when stopped (-9: it had to be killed)")
    for k, v in log_problems(svc).items():
        if v:
            notes.append(f"service log: {v} {k}")

    # ---- phase 3: the receiver's raw capacity, service stopped ----
    sample = receiver.sample()
    if not sample:
        raise BenchError("the receiver has no delivery body to replay")
    body_file = workdir / "delivery-body.json"
    body_file.write_bytes(sample)
    raw: dict[str, dict[str, Any]] = {}
    for mode in ("async", "threads"):
        quiet(args, f"raw capacity ({mode})", notes)
        print(f"raw capacity ({mode}): {args.connections} connections, 1 s warm-up + {args.baseline_seconds:g} s ...",
              flush=True)
        raw[mode] = run_raw(receiver, mode, body_file, args, workdir)
    receiver.client.close()
    stop(rchild)

    # ---- figures ----
    first: dict[str, int] = {}
    by_wid: Counter[str | None] = Counter()
    wid_event: dict[str | None, str | None] = {}
    pos_mismatch = 0
    for wid, arrived, position, event_id in deliveries:
        by_wid[wid] += 1
        wid_event.setdefault(wid, event_id)
        if event_id is not None and (event_id not in first or arrived < first[event_id]):
            first[event_id] = arrived
        if event_id in posted and posted[event_id] != position:
            pos_mismatch += 1
    lat = sorted(first[e] - done for e, _sent, done in lat_rows if e in first)
    lat_missing = sum(1 for e, _s, _d in lat_rows if e not in first)
    post_lat = sorted(lat_post_ns)
    tp_arrivals = sorted(first[e] for e in tp_ids if e in first)
    tp_complete = len(tp_arrivals) == len(tp_ids)
    tp_total_s = (tp_arrivals[-1] - t_tp0) / 1e9 if tp_arrivals else None
    tp_rate = len(tp_arrivals) / tp_total_s if tp_total_s else None
    tp_span_s = (tp_arrivals[-1] - tp_arrivals[0]) / 1e9 if len(tp_arrivals) > 1 else None
    tp_span_rate = (len(tp_arrivals) - 1) / tp_span_s if tp_span_s else None
    rec_s = (t_tp_recorded - t_tp0) / 1e9
    first_after_s = (tp_arrivals[0] - t_tp0) / 1e9 if tp_arrivals else None
    after_last_batch_s = (tp_arrivals[-1] - t_tp_recorded) / 1e9 if tp_arrivals else None
    cap = raw["async"]["requests_per_s"]
    ratio = tp_rate / cap if tp_rate and cap else None
    ratio_threads = tp_rate / raw["threads"]["requests_per_s"] if tp_rate and raw["threads"]["requests_per_s"] else None

    print()
    print(f"Webhook delivery: one subscription, receiver in its own process on 127.0.0.1 "
          f"(asyncio/httptools, answers 204; {len(sample)}-byte delivery bodies)")
    print(f"service backend: {backend_desc}")
    print()
    rows: list[tuple[str, str, str]] = [
        ("append -> first delivery, p50 ms", ms(percentile(lat, 50)),
         f"{len(lat)} facts POSTed one at a time at {achieved_rate:.1f}/s (target {args.rate:g}/s), "
         f"from each 201 to the receiver's arrival"),
        ("append -> first delivery, p99 ms", ms(percentile(lat, 99)), ""),
        ("append -> first delivery, max ms", ms(lat[-1] if lat else None),
         f"min {ms(lat[0] if lat else None)} ms"),
        ("  POST /v1/events itself, p50 / p99 ms",
         f"{ms(percentile(post_lat, 50))} / {ms(percentile(post_lat, 99))}", "request sent -> 201 read"),
        ("  CPU during the latency phase", "", cpu_text(cpu_lat.result) + " (% of one core)"),
        ("deliveries/s (dispatcher)", fmt_num(tp_rate, ".0f"),
         f"{len(tp_arrivals)} deliveries / {fmt_num(tp_total_s, '.2f')} s from the first batch POST "
         f"to the last arrival"),
        ("  recording the batches", f"{fmt_num(args.facts / rec_s, '.0f')}/s",
         f"{len(batches)} x POST /v1/events/batch: {rec_s:.2f} s"),
        ("  first arrival after first POST", f"{fmt_num(first_after_s, '.2f')} s", ""),
        ("  last arrival after last 201", f"{fmt_num(after_last_batch_s, '.2f')} s", ""),
        ("  first -> last arrival rate", f"{fmt_num(tp_span_rate, '.0f')}/s", f"over {fmt_num(tp_span_s, '.2f')} s"),
        ("  CPU during the throughput phase", "", cpu_text(cpu_tp.result) + " (% of one core)"),
        ("receiver raw capacity (req/s)", fmt_num(cap, ".0f"),
         f"asyncio+httpx, {args.connections} one-connection clients, {raw['async']['window_s']:.1f} s; "
         f"client {fmt_num(raw['async']['client_cpu_pct'], '.0f')}%, receiver "
         f"{fmt_num(raw['async']['receiver_cpu_pct'], '.0f')}%, errors {sum(raw['async']['errors'].values())}"),
        ("dispatcher's client shape (req/s)", fmt_num(raw["threads"]["requests_per_s"], ".0f"),
         f"one httpx.Client, {args.connections} threads, signing each, no database; client "
         f"{fmt_num(raw['threads']['client_cpu_pct'], '.0f')}%, receiver "
         f"{fmt_num(raw['threads']['receiver_cpu_pct'], '.0f')}%, errors {sum(raw['threads']['errors'].values())}"),
        ("ratio deliveries/s / raw capacity", fmt_num(ratio, ".3f"), ""),
        ("ratio deliveries/s / client shape", fmt_num(ratio_threads, ".3f"), ""),
    ]
    print_rows(rows)
    print()
    info["date"] = f"{info['date']} to {dt.datetime.now(dt.UTC).strftime('%H:%M:%S UTC')}"
    for key, value in info.items():
        print(f"{key + ':':16}{value}")
    print(f"{'httpx:':16}{httpx.__version__}")

    # ---- exactly once ----
    n_posted = len(posted)
    distinct_wids = len(by_wid)
    dup = {w: c for w, c in by_wid.items() if c > 1}
    delivered_events = {e for e in wid_event.values() if e is not None}
    missing = set(posted) - delivered_events
    unexpected = delivered_events - set(posted)
    event_wids = Counter(e for e in wid_event.values())
    out_of_order = 0
    highest = 0
    for _wid, _arrived, position, _event in sorted(deliveries, key=lambda r: r[1]):
        if position is not None:
            if position < highest:
                out_of_order += 1
            highest = max(highest, position)
    multi_wid = sum(1 for c in event_wids.values() if c > 1)
    print()
    print("Delivery accounting:")
    print(f"  facts answered 201:            {n_posted}  ({args.warmup_facts} warm-up + {n_lat} latency + "
          f"{args.facts} throughput)")
    print(f"  deliveries received (/hook):   {len(deliveries)}  (distinct webhook-ids: {distinct_wids})")
    print(f"  duplicates:                    {sum(c - 1 for c in dup.values())} extra deliveries of "
          f"{len(dup)} webhook-ids")
    print(f"  facts never delivered:         {len(missing)};  deliveries of unknown facts: {len(unexpected)};  "
          f"facts under several webhook-ids: {multi_wid};  position != 201 position: {pos_mismatch}")
    print(f"  arrived after a later position: {out_of_order}  (first attempts of one subscription should "
          "arrive in log order)")
    print(f"  service's view (deliveries):   statuses {svc_view['statuses']}, attempts per message "
          f"{svc_view['attempts']}, attempt outcomes {svc_view['codes']}")
    if counts.get("bad"):
        notes.append(f"the receiver saw {counts['bad']} malformed requests or bodies")
    ok = distinct_wids == n_posted and not dup and not missing and not unexpected and not multi_wid \
        and not pos_mismatch and tp_complete and not lat_missing
    if figures is not None:
        figures.update({
            "latency_p50_ms": percentile(lat, 50) / 1e6 if lat else None,
            "latency_p99_ms": percentile(lat, 99) / 1e6 if lat else None,
            "latency_facts": len(lat), "rate": achieved_rate,
            "deliveries_per_s": tp_rate, "deliveries": len(tp_arrivals), "span_rate": tp_span_rate,
            "raw_capacity": cap, "client_shape": raw["threads"]["requests_per_s"],
            "exactly_once": ok, "facts_posted": n_posted, "duplicates": sum(c - 1 for c in dup.values()),
            "missing": len(missing), "service_cpu_pct": cpu_tp.result.get("service"),
        })
    print(f"  result:                        {'OK — every fact delivered exactly once' if ok else 'MISMATCH'}")

    if late_sends:
        notes.append(f"latency phase: {late_sends} POSTs left more than one interval late (the POSTs could not "
                     "keep the rate)")
    if lat and lat[0] < 0:
        notes.append("some deliveries arrived before the client had read the 201 (negative latencies)")
    if cpu_tp.result.get("other") and cpu_tp.result["other"] > 15 and args.backend == "sqlite":
        notes.append(f"throughput phase: other processes used {cpu_tp.result['other']:.0f}% of a core")
    for mode, r in raw.items():
        if r["errors"]:
            notes.append(f"raw capacity ({mode}): errors {r['errors']}")
        if r["client_cpu_pct"] and r["client_cpu_pct"] > 85:
            notes.append(f"raw capacity ({mode}): the client used {r['client_cpu_pct']:.0f}% of a core, so it may "
                         "bound that figure (read it as a lower bound of the receiver's capacity)")
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print(f"  - {note}")
    return 0 if ok else 1


def fmt_num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


if __name__ == "__main__":
    sys.exit(main())
