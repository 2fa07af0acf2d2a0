"""What this process knows of the read models' progress, for answers' validators, kept so
that a conditional GET is answered without a query.

Everything kept here is a lower bound of the truth: positions only grow, so a position
read (or announced by this process's own projection worker) before an answer's query
was run never claims more than the answer holds. Tags made from it at worst make a
client fetch an unchanged answer once more; they never make it keep a changed one,
except for the bounded delay of ``REFRESH`` seconds while another process's worker
applies changes (the announcements of this process's own worker are seen at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from service.bootstrap import Container
from service.domain.instants import to_micros
from service.readmodels.tables import fact_versions
from service.readmodels.worker import read_position

# Seconds a position read from the database is taken as current (a process whose own worker
# commits a batch knows at once).
REFRESH = 0.05
# Seconds an append may take between its transaction-time stamp and its commit: longer than
# the store's longest bounded wait (SQLite's 30 s lock timeout). An ``as_of`` this far
# behind a moment at which the read models had applied the whole log can gain no new fact.
SETTLE_SECONDS = 120
SETTLE_US = SETTLE_SECONDS * 1_000_000


@dataclass(frozen=True)
class Seen:
    """One reading of the database."""

    position: int  # the read models' position
    next_due_us: int | None  # the first occurred time of any fact version after the asking request's now
    taken_us: int  # when it was read (the container's clock)
    taken_monotonic: float
    caught_up_us: int | None  # the latest moment at which the read models had applied the whole log


class Progress:
    def __init__(self, container: Container, monotonic: Callable[[], float] = time.monotonic):
        self.container = container
        self.monotonic = monotonic
        self._seen: Seen | None = None
        self._lock = asyncio.Lock()

    def _own_position(self) -> int:
        # The worker of this process announces each batch it commits.
        return self.container.read_models.watch.position if self.container.running else 0

    def advance(self, position: int) -> None:
        """A read has seen the read models at ``position`` (a ``min_position`` wait)."""
        seen = self._seen
        if seen is not None and position > seen.position:
            self._seen = Seen(position, seen.next_due_us, seen.taken_us, seen.taken_monotonic, seen.caught_up_us)

    async def position(self, *, now_us: int, clock_dependent: bool) -> tuple[int, int | None]:
        """The read models' position, and for answers whose ``at`` is the clock, the next
        moment at which a recorded fact comes due (None: none does)."""
        seen = await self._current(now_us, clock_dependent=clock_dependent)
        return max(seen.position, self._own_position()), seen.next_due_us

    async def settled(self, as_of_us: int, now_us: int) -> bool:
        """Whether no change can still enter an answer pinned at ``as_of_us``: it is
        ``SETTLE_SECONDS`` behind both the clock and a moment when the read models had
        applied the whole log."""
        if as_of_us + SETTLE_US > now_us:
            return False
        seen = self._seen
        if seen is None or seen.caught_up_us is None or seen.caught_up_us < as_of_us + SETTLE_US:
            seen = await self._refresh(now_us)
        return seen.caught_up_us is not None and seen.caught_up_us >= as_of_us + SETTLE_US

    async def _current(self, now_us: int, *, clock_dependent: bool) -> Seen:
        seen = self._seen
        if seen is not None and not self._stale(seen, now_us, clock_dependent):
            return seen
        return await self._refresh(now_us)

    def _stale(self, seen: Seen, now_us: int, clock_dependent: bool) -> bool:
        if clock_dependent:
            # A fact recorded since the reading may lie in the future; one read then comes due.
            if seen.position < self._own_position():
                return True
            if seen.next_due_us is not None and now_us >= seen.next_due_us:
                return True
        # Read again even where this process's worker announces its commits: another process may
        # run the read models' worker too.
        return self.monotonic() - seen.taken_monotonic > REFRESH

    async def _refresh(self, now_us: int) -> Seen:
        asked = self.monotonic()
        async with self._lock:
            seen = self._seen
            # Another request may have refreshed it while this one waited.
            if seen is not None and seen.taken_monotonic >= asked:
                return seen
            fresh = await run_in_threadpool(self._read, now_us)
            self._seen = fresh
            return fresh

    def _read(self, now_us: int) -> Seen:
        container = self.container
        taken_us = to_micros(container.clock())
        taken_monotonic = self.monotonic()
        # The log's head first: read models found at or past it had applied everything
        # committed before ``taken_us``.
        head = container.store.max_position()
        fv = fact_versions
        with container.engine.connect() as conn:
            position = read_position(conn, container.read_models.name)
            next_due = conn.execute(select(func.min(fv.c.occurred_us)).where(fv.c.occurred_us > now_us)).scalar()
        previous = self._seen.caught_up_us if self._seen is not None else None
        caught_up = taken_us if position >= head else previous
        return Seen(position, next_due, taken_us, taken_monotonic, caught_up)
