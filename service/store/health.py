"""The last storage failure this process saw, for ``/readyz`` to report until it is over.

Readiness cannot find out by trying: a write that is rolled back never reaches the disk
(SQLite keeps it in its page cache; PostgreSQL writes into preallocated WAL segments and
pages with room left), so a probe write would succeed on a full disk, and a committed
probe would itself fill it. What is known for sure is the outcome of the real writes, so
a failure is remembered and reported until one of these says it is over:

* a later write in this process commits (an append, or a projection's batch);
* on SQLite, the file's filesystem has gained ``FREED_BYTES`` of free space since the
  failure (``os.statvfs``): somebody made room, and a process whose writes have stopped
  coming (a load balancer stopped sending them, since it is not ready) learns of it;
* the failure is older than ``FORGET_AFTER`` seconds. PostgreSQL's disk cannot be seen
  from here, and an API process without workers would otherwise stay unready forever
  once writes stop arriving; after that time it says ready and the next write tells anew.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.store.failures import FULL, FailureKind, classify

FREED_BYTES = 1024 * 1024
FORGET_AFTER = 60.0


@dataclass(frozen=True)
class StorageFailure:
    kind: FailureKind
    at: float  # seconds since the epoch
    free_bytes: int | None  # free space when it happened, where it can be measured


def free_space(directory: str) -> Callable[[], int]:
    """Bytes free to unprivileged writers on the filesystem holding ``directory``."""

    def measure() -> int:
        stats = os.statvfs(directory)
        return stats.f_bavail * stats.f_frsize

    return measure


class StorageHealth:
    def __init__(self, measure_free: Callable[[], int] | None = None, *, clock: Callable[[], float] = time.time):
        self._measure_free = measure_free
        self._clock = clock
        self._lock = threading.Lock()
        self._failure: StorageFailure | None = None

    def observe(self, exc: BaseException) -> FailureKind | None:
        """Remember ``exc`` if it is a storage failure; returns its kind."""
        kind = classify(exc)
        if kind is not None:
            self.failed(kind)
        return kind

    def failed(self, kind: FailureKind) -> None:
        with self._lock:
            self._failure = StorageFailure(kind, self._clock(), self._free())

    def succeeded(self, *_: object) -> None:
        """A write committed (called with whatever the notifier passes)."""
        if self._failure is not None:
            with self._lock:
                self._failure = None

    def failure(self) -> StorageFailure | None:
        """The failure still in force, if any."""
        with self._lock:
            failure = self._failure
            if failure is not None and self._over(failure):
                self._failure = failure = None
            return failure

    def _over(self, failure: StorageFailure) -> bool:
        if self._clock() - failure.at > FORGET_AFTER:
            return True
        if failure.kind != FULL or failure.free_bytes is None:
            return False
        now = self._free()
        return now is not None and now - failure.free_bytes >= FREED_BYTES

    def _free(self) -> int | None:
        if self._measure_free is None:
            return None
        try:
            return self._measure_free()
        except OSError:  # the directory went away: no measure, not an error of readiness
            return None
