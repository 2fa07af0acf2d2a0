"""Keeps one child process running (the projection worker of ``serve --processes N``).

A child that exits while it should be running is started again after a pause
that grows with each quick failure, so a broken database does not spin a loop.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from service.background import BackgroundLoop, Backoff

log = logging.getLogger(__name__)

# A child that ran this long before it exited was not failing at start: the pause starts over.
LIVED_SECONDS = 60


class ChildExitedError(Exception):
    def __init__(self, code: int):
        super().__init__(f"exited with {code}")
        self.code = code


class Supervised(BackgroundLoop):
    def __init__(self, args: Sequence[str], *, max_backoff: float = 30.0):
        super().__init__("supervisor", backoff=Backoff(first=0.5, longest=max_backoff))
        self.args = list(args)
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None  # the child's, once stopped

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def step(self) -> None:
        with self._lock:
            if self.stopping:
                return
            self._child = child = subprocess.Popen(self.args, stdin=subprocess.DEVNULL)  # noqa: S603
        started = time.monotonic()
        code = child.wait()
        if self.stopping:
            return
        if time.monotonic() - started > LIVED_SECONDS:
            self.backoff.reset()
        raise ChildExitedError(code)

    def failed(self, exc: Exception, pause: float) -> None:
        code = exc.code if isinstance(exc, ChildExitedError) else exc
        log.error("child %s exited with %s; starting it again in %.1fs", self.args[-1], code, pause)
        self.sleep(pause)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the child and wait for it (SIGKILL after ``timeout``); ``exit_code`` says how it ended."""
        with self._lock:
            self.request_stop()
            child = self._child
        if child is None:
            return
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            self.exit_code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            self.exit_code = child.wait()
        self.join(timeout)
