"""Group commit: concurrent single-fact appends share one transaction.

A request that records one fact hands it to the app's committer and awaits the outcome.
The facts of one turn of the event loop are handed to one writer thread together, which
takes every fact handed over since its last commit (at most ``max_group``) and records them
with one ``save`` (one transaction, one sync to disk), then answers each request on its
event loop. Nothing is answered before its commit.
When the group cannot be recorded as a whole (one fact conflicts with a stored one, or is
too large), each fact of it is recorded on its own, so that one request's error is never
another's. When the database itself fails (storage/failures.py), the failure is every
fact's: each request of the group, and each handed over meanwhile, gets it at once,
rather than a wait per fact.

The commit runs on its own thread, never on the event loop: a commit can wait (for a
lock, a sync, a database that has gone away), and on the loop that wait froze every
request of the process, health checks included. Requests that arrive meanwhile form the
next group, so a slow commit makes groups larger rather than the queue longer. The price
is a hand-off per group, not per request (decision record 6).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from service.store.application import Recorded
from service.store.failures import classify

log = logging.getLogger(__name__)

Record = Callable[[Sequence[Any]], list[Recorded]]
Pending = tuple[Any, asyncio.Future[Recorded]]
Outcome = Recorded | BaseException


class GroupCommitter:
    def __init__(self, record: Record, *, max_group: int = 1000):
        self._record = record
        self.max_group = max_group
        self._handed: list[Pending] = []  # this turn's, touched on the event loop only
        self._scheduled = False
        self._pending: list[Pending] = []  # the writer thread's next group(s)
        self._ready = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def record(self, fact: Any) -> asyncio.Future[Recorded]:
        """The outcome of recording ``fact``, once its group has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Recorded] = loop.create_future()
        self._handed.append((fact, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._hand_over)
        return future

    def _hand_over(self) -> None:
        """Give this turn's facts to the writer thread at once: one wake-up, not one per request."""
        self._scheduled = False
        handed, self._handed = self._handed, []
        with self._ready:
            if self._closed:
                for _, future in handed:
                    future.set_exception(RuntimeError("the service is shutting down"))
                return
            self._pending.extend(handed)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()
            self._ready.notify()

    def close(self, timeout: float = 30.0) -> None:
        """Commit what was handed over, then stop the writer thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._closed:
                    self._ready.wait()
                if not self._pending:
                    return  # closed, and nothing left to commit
                group, self._pending = self._pending[: self.max_group], self._pending[self.max_group :]
            outcomes = self._commit_group([fact for fact, _ in group])
            failure = _database_failure(outcomes)
            if failure is not None:
                meanwhile = self._take_all()
                group += meanwhile
                outcomes += [failure] * len(meanwhile)
            self._answer(group, outcomes)

    def _take_all(self) -> list[Pending]:
        """Every fact handed over while a commit found the database failing.

        They get the same answer at once: committing them now would cost each another
        timeout for the same outcome, and a client told to retry later soon does.
        """
        with self._ready:
            taken, self._pending = self._pending, []
        return taken

    def _commit_group(self, facts: list[Any]) -> list[Outcome]:
        try:
            recorded = self._record(facts)
        except Exception as exc:
            if classify(exc) is not None:
                return [exc] * len(facts)  # the database failed, not a fact: the same for all
            return self._one_by_one(facts)
        seen: set[str] = set()
        outcomes: list[Outcome] = []
        for outcome in recorded:
            event_id = outcome.fact["event_id"]
            # The same fact twice in one group: the first request recorded it, the second repeats it.
            outcomes.append(Recorded(outcome.fact, created=False) if event_id in seen else outcome)
            seen.add(event_id)
        return outcomes

    def _one_by_one(self, facts: list[Any]) -> list[Outcome]:
        """Each request gets its own answer; a database failure ends the attempts."""
        outcomes: list[Outcome] = []
        for index, fact in enumerate(facts):
            try:
                outcomes.append(self._record([fact])[0])
            except Exception as exc:
                if classify(exc) is not None:
                    return outcomes + [exc] * (len(facts) - index)
                outcomes.append(exc)
        return outcomes

    @staticmethod
    def _answer(group: list[Pending], outcomes: list[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Recorded], Outcome]]] = {}
        for (_, future), outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop has closed: nobody is waiting any more
                log.warning("%d appends committed after their event loop closed", len(settled))


def _database_failure(outcomes: list[Outcome]) -> BaseException | None:
    failed = outcomes[-1] if outcomes else None  # a database failure ends a group's attempts
    return failed if isinstance(failed, BaseException) and classify(failed) is not None else None


def _settle(settled: list[tuple[asyncio.Future[Recorded], Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():  # a client that went away still had its fact recorded
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
