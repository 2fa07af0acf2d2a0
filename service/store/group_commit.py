"""Group commit: concurrent single-fact appends share one transaction.

A request that records one fact hands it to the app's committer and awaits the outcome.
The committer runs once per turn of the event loop: it takes every fact handed over
since it last ran and records them with one ``save`` (one transaction, one sync to
disk), then answers each request. Nothing is answered before its commit. When the group
cannot be recorded as a whole (one fact conflicts with a stored one, or is too large),
each fact of it is recorded on its own, so that one request's error is never another's.

The commit runs on the event loop's own thread: handing it to a thread costs more in
GIL hand-offs than the commit itself takes (DESIGN.md §7), and the requests that arrive
meanwhile simply form the next group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from service.store.application import Recorded

log = logging.getLogger(__name__)

Record = Callable[[Sequence[Any]], list[Recorded]]


class GroupCommitter:
    def __init__(self, record: Record, *, max_group: int = 1000):
        self._record = record
        self.max_group = max_group
        self._pending: list[tuple[Any, asyncio.Future[Recorded]]] = []
        self._scheduled = False

    def record(self, fact: Any) -> asyncio.Future[Recorded]:
        """The outcome of recording ``fact``, once its group has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Recorded] = loop.create_future()
        self._pending.append((fact, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._commit)
        return future

    def _commit(self) -> None:
        self._scheduled = False
        while self._pending:
            group, self._pending = self._pending[: self.max_group], self._pending[self.max_group :]
            self._commit_group(group)

    def _commit_group(self, group: list[tuple[Any, asyncio.Future[Recorded]]]) -> None:
        try:
            outcomes = self._record([fact for fact, _ in group])
        except Exception:
            for fact, future in group:  # one by one: each request gets its own answer
                self._settle(future, lambda fact=fact: self._record([fact])[0])
            return
        seen: set[str] = set()
        for (_, future), outcome in zip(group, outcomes, strict=True):
            event_id = outcome.fact["event_id"]
            # The same fact twice in one group: the first request recorded it, the second repeats it.
            repeat = event_id in seen
            seen.add(event_id)
            self._settle(future, lambda o=outcome, r=repeat: Recorded(o.fact, created=False) if r else o)

    @staticmethod
    def _settle(future: asyncio.Future[Recorded], outcome: Callable[[], Recorded]) -> None:
        try:
            result = outcome()
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():  # a client that went away still had its fact recorded
            future.set_result(result)
