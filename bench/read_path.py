"""The fixed cost of a read, in process: the app driven through ASGI with no socket, beside a
bare FastAPI hello GET driven the same way, and (``--profile``) a cProfile of the requests.

No HTTP parsing and no network: what is left is the service's own cost per request
(middleware, dependencies, the thread-pool hop, the read slot, the queries, encoding,
the log line and the metrics). The figures of docs/performance.md were taken with it:

    python -m bench.read_path --requests 3000 --log 2>/dev/null
    python -m bench.read_path --requests 3000 --profile state | head -60
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from service.api.app import create_app
from service.bootstrap import bootstrap
from service.demo import load_demo
from service.observability import logs
from service.settings import Settings

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

TOKEN = "bench-read-token"


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


async def call(app: ASGI, path: str, query: str = "", headers: list[tuple[bytes, bytes]] | None = None) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def per_request(app: ASGI, n: int, *args: Any) -> tuple[float, float]:
    """Wall and CPU seconds per request (CPU: all of this process's threads), over ``n``
    sequential requests after a warm-up. On a shared machine the CPU figure is the steadier."""
    for _ in range(50):
        await call(app, *args)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        status = await call(app, *args)
    elapsed = ((time.perf_counter() - started) / n, (time.process_time() - cpu) / n)
    if status >= 400 and status != 404:
        raise SystemExit(f"{args[0]} answered {status}")
    return elapsed


def demo_app(directory: Path, *, token: bool) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{directory / 'bench.sqlite3'}",
        api_tokens=f"{TOKEN}:read" if token else "",
        log_level="warning",
        _env_file=None,
    )
    container = bootstrap(settings)
    load_demo(container.store)
    # As ``serve`` runs: the projection in this process, idle once it has caught up.
    app = create_app(container, run_workers=True)
    container.start_workers()
    if not container.wait_for_position(container.store.max_position(), 30):
        raise SystemExit("the read models did not catch up")
    return app


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = demo_app(Path(tmp), token=args.token)
        async with app.router.lifespan_context(app):
            headers = [(b"authorization", f"Bearer {TOKEN}".encode())] if args.token else []
            cases: dict[str, tuple[Any, ...]] = {
                "hello": (hello_app(), "/hello"),
                "healthz": (app, "/healthz"),
                "state": (app, "/v1/actors/canada/state", "", headers),
                "state_at": (app, "/v1/actors/canada/state", "at=2020-01-08", headers),
                "timeline": (app, "/v1/actors/us/timeline", "", headers),
                "events": (app, "/v1/events", "limit=100", headers),
            }
            for name, query in (("state_304", ""), ("state_at_304", "at=2020-01-08")):
                tag = await etag_of(app, headers, query)
                if tag:
                    cases[name] = (app, "/v1/actors/canada/state", query, [*headers, (b"if-none-match", tag)])
            if args.profile:
                target, *rest = cases[args.profile]
                profiler = cProfile.Profile()
                profiler.enable()
                await per_request(target, args.requests, *rest)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
                return
            for name, (target, *rest) in cases.items():
                wall, cpu = await per_request(target, args.requests, *rest)
                print(f"{name:10} {wall * 1e6:8.0f} µs wall {cpu * 1e6:8.0f} µs CPU per request")


async def etag_of(app: ASGI, headers: list[tuple[bytes, bytes]], query: str) -> bytes | None:
    found: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            found.extend(v for k, v in message["headers"] if k == b"etag")

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/actors/canada/state",
        "raw_path": b"/v1/actors/canada/state",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "app": app,
    }
    await app(scope, receive, send)
    return found[0] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", help="profile one case instead of timing all")
    parser.add_argument("--token", action="store_true", help="reads need a token")
    parser.add_argument("--log", action="store_true", help="write the request log as serve does (to standard error)")
    args = parser.parse_args()
    if args.log:
        logs.configure("info")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
