"""The webhook benchmark's two helper processes: the receiver the service delivers to, and the
raw-capacity client that measures what the receiver can take with the service stopped.

    python -m bench.targets.webhook_receiver receiver --port P
    python -m bench.targets.webhook_receiver rawload --url URL --mode async|threads --body-file F --out F

The receiver is a minimal HTTP/1.1 server (asyncio, uvloop and httptools when installed) that answers
every ``POST`` with 204 and records, per request, its arrival time (CLOCK_MONOTONIC, which every
process on the machine shares), its ``webhook-id`` header and the body's ``data.position`` and
``data.event.event_id``; ``/count``, ``/dump`` and ``/sample`` give them back.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson

from bench.common.machine import (
    busy_pct,
    cpu_seconds_of,
    machine_busy_ticks,
    own_cpu_seconds,
)
from bench.common.processes import LOOPBACK_HOSTS

HOOK_PATH = "/hook"
RAW_PATH = "/raw"
REQUEST_TIMEOUT_S = 60.0


_RESP_204 = b"HTTP/1.1 204 No Content\r\nserver: bench-receiver\r\n\r\n"
_RESP_204_CLOSE = b"HTTP/1.1 204 No Content\r\nserver: bench-receiver\r\nconnection: close\r\n\r\n"


class _Records:
    """What arrived, per path: lists of (webhook-id, arrival ns, position, event_id)."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[tuple[str | None, int, int | None, str | None]]] = {
            HOOK_PATH: [],
            RAW_PATH: [],
        }
        self.distinct: dict[str, set[str | None]] = {HOOK_PATH: set(), RAW_PATH: set()}
        self.sample: bytes = b""
        self.bad = 0


def _ok(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


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
        except Exception:  # noqa: BLE001 - a malformed request: drop the connection
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
            except Exception:  # noqa: BLE001 - a body that is not a delivery: counted as bad
                self.records.bad += 1
            bucket = path if path in self.records.by_path else RAW_PATH
            self.records.by_path[bucket].append((self.webhook_id, arrived, position, event_id))
            self.records.distinct[bucket].add(self.webhook_id)
            if bucket == HOOK_PATH:
                self.records.sample = body
            self.transport.write(_RESP_204 if keep_alive else _RESP_204_CLOSE)
        elif path == "/count":
            self.transport.write(
                _ok(
                    orjson.dumps(
                        {
                            p: {"n": len(rows), "distinct": len(self.records.distinct[p])}
                            for p, rows in self.records.by_path.items()
                        }
                        | {"bad": self.records.bad}
                    )
                )
            )
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
    parser = argparse.ArgumentParser(prog="python -m bench.targets.webhook_receiver receiver")
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


# --- the raw-capacity client ---------------------------------------------------------------


def _raw_headers(n: int, sig: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": f"raw_{n:032x}",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": sig,
        "user-agent": "crisis-timeline-webhooks/1",
    }


async def _rawload_async(
    url: str, body: bytes, connections: int, warmup: float, seconds: float, state: dict[str, Any]
) -> None:
    parts = urlsplit(url)
    fake_sig = "v1," + base64.b64encode(os.urandom(32)).decode()  # the size of a real one
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    counter = iter(range(1 << 62))
    async with contextlib.AsyncExitStack() as stack:
        # One client per connection, as bench/loadgen.py does (one shared pool costs the client
        # about twice the CPU per request).
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=f"{parts.scheme}://{parts.netloc}",
                    limits=limits,
                    timeout=REQUEST_TIMEOUT_S,
                    trust_env=False,
                )
            )
            for _ in range(connections)
        ]

        async def worker(client: httpx.AsyncClient) -> None:
            while time.monotonic() < state["t_end"]:
                try:
                    response = await client.post(
                        parts.path, content=body, headers=_raw_headers(next(counter), fake_sig)
                    )
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
    client = httpx.Client(
        timeout=REQUEST_TIMEOUT_S, follow_redirects=False, limits=httpx.Limits(max_connections=connections * 2)
    )
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
    return own_cpu_seconds(), cpu_seconds_of(server_pid), machine_busy_ticks(), time.monotonic()


def rawload_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.targets.webhook_receiver rawload")
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
        "t_measure": now + args.warmup,
        "t_end": now + args.warmup + args.seconds,
        "ok": 0,
        "errors": Counter(),
        "server_pid": args.server_pid,
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
        "receiver_cpu_pct": (100.0 * (c1[1] - c0[1]) / wall)
        if wall > 0 and c0[1] is not None and c1[1] is not None
        else None,
        "machine_busy_pct": busy_pct(c0[2], c1[2]),
        "body_bytes": len(body),
    }
    Path(args.out).write_bytes(orjson.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"receiver": receiver_main, "rawload": rawload_main}
    if not argv or argv[0] not in commands:
        print("usage: python -m bench.targets.webhook_receiver receiver|rawload ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
