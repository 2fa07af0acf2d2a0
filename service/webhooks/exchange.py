"""The HTTP exchange of one delivery attempt, bounded as a whole in time and in memory.

httpx's timeouts bound each network operation, not a request (it has no total
timeout): a subscriber that answers a byte at a time, in its headers or its body,
never trips them and can hold an attempt for as long as it likes. So exchanges
run on one event loop, in a thread of their own, each under ``asyncio.timeout``:
connecting, sending, the headers and the reply's excerpt all count against one
deadline, and cancelling at the deadline closes the connection. The dispatcher's
delivery threads keep their model (one thread per subscription queue) and wait for
their exchange's result.

Of a reply only the first ``EXCERPT_BYTES`` are read, undecoded (we ask for no
content coding, so no compressed reply is inflated either); closing the response
then drops the connection instead of reading the rest, however large it is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import cast

import httpx

from service.webhooks.guard import Pinned

EXCERPT = 300  # characters of a reply (or an error) kept with the attempt
EXCERPT_BYTES = 4 * EXCERPT  # enough for EXCERPT characters in UTF-8
STOP_SECONDS = 5.0  # how long closing waits for the loop to finish its exchanges


@dataclass(frozen=True)
class Answer:
    status_code: int
    retry_after: str | None
    excerpt: str


class Exchanges:
    """Runs exchanges on a private event loop; ``post`` is called from any thread."""

    def __init__(self, *, max_connections: int):
        self._max_connections = max_connections
        # Made on the first delivery: loading the CA bundle for its TLS context costs about a
        # tenth of a second, which a service that never delivers a webhook need not pay.
        self._client: httpx.AsyncClient | None = None
        self._client_made = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-http", daemon=True)
        self._thread.start()

    def post(self, url: str, targets: list[Pinned], body: bytes, headers: dict[str, str], within: float) -> Answer:
        """POST within ``within`` seconds; TimeoutError past it, httpx.HTTPError on a transport failure."""
        if within <= 0:
            raise TimeoutError  # nothing is sent once the attempt's time is up
        self._http()  # made before the deadline starts: making it is no part of an attempt
        exchange = self._post(url, targets, body, {**headers, "accept-encoding": "identity"}, within)
        return asyncio.run_coroutine_threadsafe(exchange, self._loop).result()

    def _http(self) -> httpx.AsyncClient:
        with self._client_made:  # delivery threads call at once; one client serves them all
            if self._client is None:
                limits = httpx.Limits(max_connections=self._max_connections)
                self._client = httpx.AsyncClient(follow_redirects=False, timeout=None, limits=limits)
            return self._client

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(STOP_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_SECONDS)
        self._loop.close()

    async def _post(
        self, url: str, targets: list[Pinned], body: bytes, headers: dict[str, str], within: float
    ) -> Answer:
        """To the checked addresses in turn (the next only if one cannot be reached)."""
        async with asyncio.timeout(within):
            if not targets:  # a host the allow-list names: connect as the URL says
                return await self._exchange(url, body, headers, {})
            for target in targets[:-1]:
                try:
                    return await self._to(target, body, headers)
                except httpx.ConnectError:
                    continue
            return await self._to(targets[-1], body, headers)

    async def _to(self, target: Pinned, body: bytes, headers: dict[str, str]) -> Answer:
        extensions = {"sni_hostname": target.server_name} if target.server_name else {}
        return await self._exchange(target.url, body, {**headers, "host": target.host}, extensions)

    async def _exchange(self, url: str, body: bytes, headers: dict[str, str], extensions: dict[str, str]) -> Answer:
        async with self._http().stream("POST", url, content=body, headers=headers, extensions=extensions) as response:
            kept = bytearray()
            # httpx declares an AsyncIterator; it is a generator, which has aclose.
            async with aclosing(cast("AsyncGenerator[bytes, None]", response.aiter_raw())) as chunks:
                async for chunk in chunks:
                    kept += chunk[: EXCERPT_BYTES - len(kept)]
                    if len(kept) >= EXCERPT_BYTES:
                        break
            excerpt = kept.decode(response.encoding or "utf-8", errors="replace")[:EXCERPT]
            return Answer(response.status_code, response.headers.get("retry-after"), excerpt)
