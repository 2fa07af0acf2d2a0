"""The HTTP edge of the real server process: what a hostile or slow client can cost it.

Raw sockets, because an HTTP client library would neither stop half-way through a body
nor trickle a request head one byte at a time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from bench.common.processes import ServiceProcess, serving
from tests.support.facts import valid_fact
from tests.support.reports import report

pytestmark = pytest.mark.e2e

TOKENS = "w:write,r:read"
LARGE = 11_700_000  # bytes: under the batch limit, so only authentication can refuse it early


def connect(server: ServiceProcess, timeout: float = 10.0) -> socket.socket:
    assert server.port is not None
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def post_head(path: str, length: int, *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(sock: socket.socket) -> tuple[int, bytes]:
    """The status and header block of the answer (fails on the socket's timeout)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a complete answer: {data!r}")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), head.lower()


def large_batch() -> bytes:
    """A JSON batch of about ``LARGE`` bytes: parsing it would take the server a while."""
    fact = orjson.dumps(valid_fact())
    count = LARGE // (len(fact) + 1)
    body = b'{"events": [' + b",".join([fact] * count) + b"]}"
    return body + b" " * (LARGE - len(body))


def rss_mib(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One server per backend for the tests that neither bound its timeouts nor change its data."""
    with serving(module_database_url, TOKENS, tmp_path_factory.mktemp("edge") / "serve.log") as running:
        yield running


def healthz_while_alive(base_url: str, threads: list[threading.Thread], *, timeout: float, pause: float) -> list[float]:
    """How long each ``/healthz`` took, asked again and again while any of ``threads`` runs."""
    latencies = []
    while any(thread.is_alive() for thread in threads):
        started = time.monotonic()
        assert httpx.get(f"{base_url}/healthz", timeout=timeout).status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(pause)
    return latencies


# --- authentication comes before the body ------------------------------------------------


def test_unauthenticated_post_gets_401_before_its_body_is_sent(server: ServiceProcess) -> None:
    with connect(server, timeout=3.0) as sock:
        # A declared 11.7 MB body of which only the first 64 KiB ever arrive.
        sock.sendall(post_head("/v1/events/batch", LARGE) + b"[" * 65536)
        started = time.monotonic()
        status, head = read_head(sock)
        assert status == 401
        assert b"www-authenticate: bearer" in head and b"application/problem+json" in head
        assert time.monotonic() - started < 2.0


def test_unauthenticated_large_bodies_cost_no_memory_and_no_latency(server: ServiceProcess) -> None:
    body = large_batch()
    baseline = rss_mib(server.pid)
    statuses: list[int] = []
    peak = [baseline]
    done = threading.Event()

    def send_one() -> None:
        with connect(server, timeout=30.0) as sock:
            try:
                sock.sendall(post_head("/v1/events/batch", len(body)) + body)
            except OSError:
                pass  # the server may stop reading once it has answered
            statuses.append(read_head(sock)[0])

    def sample_rss() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mib(server.pid))
            time.sleep(0.01)

    senders = [threading.Thread(target=send_one) for _ in range(20)]
    sampler = threading.Thread(target=sample_rss)
    sampler.start()
    for sender in senders:
        sender.start()
    latencies = healthz_while_alive(server.base_url, senders, timeout=10.0, pause=0.0)
    for sender in senders:
        sender.join(30)
    done.set()
    sampler.join(5)
    growth = peak[0] - baseline
    report(
        f"20 unauthenticated {len(body) / 1e6:.1f} MB bodies: RSS +{growth:.0f} MiB, "
        f"/healthz at most {max(latencies, default=0) * 1000:.0f} ms"
    )
    assert statuses == [401] * 20
    assert growth < 40, f"RSS grew by {growth:.0f} MiB"
    assert max(latencies, default=0) < 0.5, latencies


# --- slow clients are cut off -------------------------------------------------------------

HEAD_BOUND = 1.0
BODY_BOUND = 2.0
SLACK = 1.5  # seconds the server may take beyond a bound to close (a loaded 2-core machine)


def bounded_env() -> dict[str, str]:
    return {"TIMELINE_HEADER_TIMEOUT": str(HEAD_BOUND), "TIMELINE_BODY_TIMEOUT": str(BODY_BOUND)}


def closed_after(sock: socket.socket, started: float, trickle: bytes = b"") -> tuple[float, bytes]:
    """Seconds from ``started`` until the server closes ``sock`` (sending ``trickle`` a byte at a
    time meanwhile), and what it answered; fails on the socket's timeout."""
    answer = b""
    sock.settimeout(0.2 if trickle else sock.gettimeout())
    sent = 0
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if time.monotonic() - started > 10:
                raise
            if sent < len(trickle):
                try:
                    sock.send(trickle[sent : sent + 1])
                except OSError:
                    return time.monotonic() - started, answer
                sent += 1
            continue
        except ConnectionResetError:
            return time.monotonic() - started, answer
        if not chunk:
            return time.monotonic() - started, answer
        answer += chunk


def test_partial_heads_and_a_trickled_body_are_closed_while_others_are_served(
    module_database_url: str, tmp_path: Path
) -> None:
    with serving(module_database_url, TOKENS, tmp_path / "serve.log", extra_env=bounded_env()) as server:
        results: dict[str, list[tuple[float, bytes]]] = {"idle": [], "head": [], "trickle": [], "body": []}

        def slow(kind: str, first: bytes, trickle: bytes = b"") -> None:
            with connect(server, timeout=10.0) as sock:
                started = time.monotonic()
                sock.sendall(first)
                results[kind].append(closed_after(sock, started, trickle))

        partial_head = b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        body_head = post_head("/v1/events", 2000, "Authorization: Bearer w")
        clients = [threading.Thread(target=slow, args=("idle", b"")) for _ in range(20)]
        clients += [threading.Thread(target=slow, args=("head", partial_head)) for _ in range(60)]
        clients += [
            threading.Thread(target=slow, args=("trickle", b"G", b"ET /healthz HTTP/1.1\r\nX: y" * 5))
            for _ in range(20)
        ]
        clients.append(threading.Thread(target=slow, args=("body", body_head + b"{", b" " * 1000)))
        for client in clients:
            client.start()
        served = healthz_while_alive(server.base_url, clients, timeout=5.0, pause=0.05)
        for client in clients:
            client.join(15)

    for kind, bound in (("idle", HEAD_BOUND), ("head", HEAD_BOUND), ("trickle", HEAD_BOUND), ("body", BODY_BOUND)):
        times = [elapsed for elapsed, _ in results[kind]]
        assert times and max(times) < bound + SLACK, (kind, times)
        assert min(times) >= bound - 0.2, (kind, times)  # not cut off before its bound
    ((_, answer),) = results["body"]
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"application/problem+json" in answer and b'"status":408' in answer
    assert served and max(served) < 1.0, served


def test_every_process_of_serve_processes_closes_a_partial_head(module_database_url: str, tmp_path: Path) -> None:
    with serving(
        module_database_url, TOKENS, tmp_path / "serve.log", "--processes", "2", "--no-workers", extra_env=bounded_env()
    ) as server:
        # Several connections, so that both processes get some of them.
        socks = [connect(server) for _ in range(8)]
        started = time.monotonic()
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        times = [closed_after(sock, started)[0] for sock in socks]
        for sock in socks:
            sock.close()
        assert max(times) < HEAD_BOUND + SLACK, times
