"""Background loops: a daemon thread that repeats one step until stopped, and retries after failures.

Every loop of the service (projection workers, the webhook dispatcher, the
PostgreSQL LISTEN connection, the supervisor of a worker process) resumes by
itself: a step that fails is logged and tried again after a pause that doubles
from ``Backoff.first`` up to ``Backoff.longest``, and drops back to the first
after a step that succeeds.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

# The longest pause between retries after a failure: how late, at most, a loop notices
# that the database is back after an outage.
MAX_BACKOFF = 5.0


class Backoff:
    """Pauses between retries: ``first``, then doubling up to ``longest``; ``reset`` after a success."""

    def __init__(self, first: float = 0.1, longest: float = MAX_BACKOFF):
        self.first = first
        self.longest = longest
        self._next = first

    def next(self) -> float:
        """The pause before this retry; the one after it is twice as long (at most ``longest``)."""
        pause = self._next
        self._next = min(pause * 2, self.longest)
        return pause

    def reset(self) -> None:
        self._next = self.first


class BackgroundLoop:
    """Runs ``step`` in a daemon thread until ``stop``; a step that raises is retried after a backoff.

    Subclasses implement ``step``; they may override ``failed`` (how a failure is
    reported and waited out) and ``interrupt`` (what ends their own waits at a stop).
    """

    def __init__(self, name: str, *, backoff: Backoff | None = None):
        self.thread_name = name
        self.backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self.backoff.reset()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end after its current step."""
        self._stop.set()
        self.interrupt()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        self.join(timeout)

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``, less if stopped meanwhile; whether the loop is stopping."""
        return self._stop.wait(seconds)

    def step(self) -> None:
        raise NotImplementedError

    def interrupt(self) -> None:
        """End whatever wait of its own a step is in (a stop is waiting for it)."""

    def failed(self, exc: Exception, pause: float) -> None:
        """Report a failed step, then wait ``pause`` seconds before the next."""
        log.exception("%s failed; retrying in %.1fs", self.thread_name, pause, exc_info=exc)
        self.sleep(pause)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 (a loop outlives any one failure)
                self.failed(exc, self.backoff.next())
                continue
            self.backoff.reset()
