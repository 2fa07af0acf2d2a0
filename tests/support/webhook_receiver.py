"""A real HTTP webhook receiver for tests: records every request and verifies its signatures.

One ``Receiver`` (a ThreadingHTTPServer on 127.0.0.1, port 0, in a daemon thread) serves any
number of ``Endpoint``s, each at its own path. An endpoint

- records every request: headers (lower-case names), raw body, parsed JSON, arrival time;
- verifies the Standard Webhooks signature of every request with every secret it was given
  (``standardwebhooks.webhooks.Webhook(secret).verify(body, headers)``) and records which
  secrets verified it;
- answers from a script of responses (status, headers, delay) and then with a default;
- can answer the way a bad subscriber does: a body far larger than anyone should read
  (``flood``), or a byte at a time, in the body or in the headers (``trickle``), until the
  sender goes away or ``trickle_for`` seconds have passed; each request records how many
  bytes of its answer were written and when the sender stopped listening.

Every wait here is bounded by a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to sleep before answering
    flood: int = 0  # bytes of body to send (instead of a short JSON one)
    trickle: float = 0.0  # seconds between the bytes of a trickled answer (0: no trickle)
    trickle_for: float = 30.0  # how long a trickle lasts if the sender stays
    trickle_headers: bool = False  # trickle a header line rather than the body


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()
    verified_by: list[str]  # the secrets (of those known at arrival) whose signature verified
    verify_errors: list[str]
    answered: int  # the status code we answered with
    finished: float | None = None  # time.monotonic() once the answer was written (or the write failed)
    sent: int = 0  # bytes of the answer's body (or trickled header) written before it finished

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def position(self) -> int:
        return int(self.json["data"]["position"])

    @property
    def event_id(self) -> str:
        return str(self.json["data"]["event"]["event_id"])

    @property
    def type(self) -> str:
        return str(self.json["type"])

    @property
    def signatures(self) -> list[str]:
        return self.headers.get("webhook-signature", "").split(" ")

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, dict(self.headers))
        except WebhookVerificationError:
            return False
        return True


class Endpoint:
    def __init__(self, receiver: Receiver, path: str, default: Reply):
        self.receiver = receiver
        self.path = path
        self.default = default
        self.secrets: list[str] = []
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        # When set, answers whatever the script does not: called with (webhook-id, how many
        # requests with that id came before this one).
        self.responder: Callable[[str, int], Reply] | None = None
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        return f"{self.receiver.base_url}{self.path}"

    def add_secret(self, secret: str) -> None:
        with self._lock:
            self.secrets.append(secret)

    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests with these, then with the default."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def set_default(self, reply: Reply | int) -> None:
        with self._lock:
            self.default = reply if isinstance(reply, Reply) else Reply(reply)

    def _next_reply(self, webhook_id: str) -> Reply:
        with self._lock:
            earlier = self._seen.get(webhook_id, 0)
            self._seen[webhook_id] = earlier + 1
            if self._script:
                return self._script.popleft()
            if self.responder is not None:
                return self.responder(webhook_id, earlier)
            return self.default

    def _record(self, received: Received) -> None:
        with self._changed:
            self.requests.append(received)
            self._changed.notify_all()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def wait_for(self, condition: Callable[[list[Received]], Any], timeout: float, what: str = "") -> Any:
        """Until ``condition(requests)`` is truthy; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = condition(list(self.requests))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"not within {timeout:.1f}s: {what or condition}; received "
                        f"{[(r.type if r.body else '?', r.webhook_id, r.answered) for r in self.requests]}"
                    )
                self._changed.wait(min(remaining, 0.1))

    def wait_count(self, count: int, timeout: float) -> list[Received]:
        return self.wait_for(lambda rs: rs if len(rs) >= count else None, timeout, f"{count} requests at {self.path}")

    def quiet(self, seconds: float) -> list[Received]:
        """Wait ``seconds`` and return what arrived meanwhile (to show that nothing more comes)."""
        before = len(self.snapshot())
        time.sleep(seconds)
        return self.snapshot()[before:]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        arrived = time.monotonic()
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        endpoint = self.server.receiver.endpoints.get(self.path)
        if endpoint is None:
            self._answer(Reply(404), Received(self.path, headers, body, arrived, [], [], 404))
            return
        with endpoint._lock:
            secrets = list(endpoint.secrets)
        verified, errors = [], []
        for secret in secrets:
            try:
                Webhook(secret).verify(body, dict(headers))
                verified.append(secret)
            except WebhookVerificationError as exc:
                errors.append(str(exc))
            except Exception as exc:  # malformed header, say: a failure, not a crash of the receiver
                errors.append(f"{type(exc).__name__}: {exc}")
        reply = endpoint._next_reply(headers.get("webhook-id", ""))
        received = Received(self.path, headers, body, arrived, verified, errors, reply.status)
        endpoint._record(received)
        if reply.delay:
            time.sleep(reply.delay)
        try:
            self._answer(reply, received)
        except OSError:
            self.close_connection = True  # the sender went away (killed, timed out): nothing to answer
        received.finished = time.monotonic()

    def _answer(self, reply: Reply, received: Received) -> None:
        payload = b'{"ok": true}' if 200 <= reply.status < 300 else b'{"error": "scripted"}'
        length = reply.flood or (10**9 if reply.trickle and not reply.trickle_headers else len(payload))
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(length))
        if reply.trickle_headers:
            self._trickle(reply, received, b"x-slow: ")
        self.end_headers()
        if reply.flood:
            chunk = b"x" * 65536
            while received.sent < reply.flood:
                piece = chunk[: reply.flood - received.sent]
                self.wfile.write(piece)
                received.sent += len(piece)
        elif reply.trickle and not reply.trickle_headers:
            self._trickle(reply, received, b"")
        else:
            self.wfile.write(payload)
        self.wfile.flush()

    def _trickle(self, reply: Reply, received: Received, prefix: bytes) -> None:
        """One byte every ``reply.trickle`` seconds: each is flushed, so no read ever waits long."""
        self.flush_headers()
        self.wfile.write(prefix)
        until = time.monotonic() + reply.trickle_for
        while time.monotonic() < until:
            self.wfile.write(b"a")
            self.wfile.flush()
            received.sent += 1
            time.sleep(reply.trickle)
        self.close_connection = True
        if reply.trickle_headers:
            self.wfile.write(b"\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, receiver: Receiver):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # broken connections are expected when a sender is killed


class Receiver:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-receiver", daemon=True
        )
        self._counter = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, name: str = "", default: Reply | int = 200) -> Endpoint:
        with self._lock:
            self._counter += 1
            path = f"/hooks/{self._counter}-{name or 'x'}"
        endpoint = Endpoint(self, path, default if isinstance(default, Reply) else Reply(default))
        self.endpoints[path] = endpoint
        return endpoint

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.close()
