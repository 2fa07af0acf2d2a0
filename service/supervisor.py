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

log = logging.getLogger(__name__)


class Supervised:
    def __init__(self, args: Sequence[str], *, max_backoff: float = 30.0):
        self.args = list(args)
        self.max_backoff = max_backoff
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self._child = subprocess.Popen(self.args, stdin=subprocess.DEVNULL)  # noqa: S603
            started = time.monotonic()
            code = self._child.wait()
            if self._stop.is_set():
                return
            backoff = 0.5 if time.monotonic() - started > 60 else min(backoff * 2, self.max_backoff)
            log.error("child %s exited with %s; starting it again in %.1fs", self.args[-1], code, backoff)
            self._stop.wait(backoff)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the child and wait for it (SIGKILL after ``timeout``); its exit code."""
        with self._lock:
            self._stop.set()
            child = self._child
        if child is None:
            return None
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        if self._thread is not None:
            self._thread.join(timeout)
        return code
