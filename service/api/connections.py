"""How long a client may take to send its request, and the uvicorn options that serve it.

uvicorn (0.55) bounds only the idle time between requests (``timeout_keep_alive``), and
cancels even that as soon as one byte arrives: a client that opens a connection and
never finishes its request head, or declares a body and trickles it, holds its socket
(and, for a body, the request's task) for as long as it likes. A few hundred such sockets
cost nothing to send and exhaust the server's file descriptors. So the HTTP protocol
``serve`` runs is uvicorn's httptools one (what its "auto" picks when httptools is
installed, as ``uvicorn[standard]`` does) with two deadlines of its own:

- the request head must be complete ``header_timeout`` seconds after the server is ready
  for it (a new connection, or the previous answer sent), else the socket is closed;
- the body must be complete ``body_timeout`` seconds after its head, else the client gets
  a 408 problem+json (or, when an answer has already gone out, nothing) and the socket
  is closed. The deadline is a total, not an idle time: a byte a second must not keep it alive.

A request that is being answered (a long export, the change stream) has no deadline here:
its head and body have arrived.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.responses import Problem
from service.settings import Settings

# Seconds uvicorn gives in-flight requests to finish on SIGTERM.
GRACEFUL_SHUTDOWN = 10


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, expired: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        # Armed for every request; one without a body completes in the same parser call.
        self._arm(self.body_timeout, self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()
        if self.cycle.response_complete:
            # Answered before its body was in: from here on, the wait is for the next request.
            self._arm(self.header_timeout, self._head_late)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Waiting for the next request, unless a body is still coming in (an early answer,
        # such as a 401, goes out before it) or a pipelined request has just been started.
        if self._deadline is None and self.cycle.response_complete and not self.transport.is_closing():
            self._arm(self.header_timeout, self._head_late)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def _head_late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if not cycle.response_started:
            self.transport.write(self._timeout_answer())
            # The app sees a disconnect and its own answer, if any, goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _timeout_answer(self) -> bytes:
        problem = Problem(
            408, "Request timeout", f"the request body did not arrive within {self.body_timeout:g} seconds"
        )
        head = [b"HTTP/1.1 408 Request Timeout"]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + problem.media_type.encode(),
            b"content-length: %d" % len(problem.body),
            b"connection: close",
        ]
        return b"\r\n".join(head) + b"\r\n\r\n" + problem.body


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options of every uvicorn server ``serve`` starts, one process or many.

    The protocol is handed over as a partial of an importable class, so that it pickles
    into the worker processes of ``--processes N``.
    """
    protocol = functools.partial(
        BoundedHttpToolsProtocol, header_timeout=settings.header_timeout, body_timeout=settings.body_timeout
    )
    return {
        "http": protocol,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN,
    }
