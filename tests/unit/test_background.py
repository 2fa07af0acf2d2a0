"""The shared background loop: retries a failing step with a bounded backoff, and stops on request."""

from __future__ import annotations

import threading

from service.background import MAX_BACKOFF, BackgroundLoop, Backoff


def test_backoff_doubles_up_to_its_bound_and_starts_over_after_a_success() -> None:
    backoff = Backoff()
    pauses = [backoff.next() for _ in range(10)]
    assert pauses[:3] == [0.1, 0.2, 0.4]
    assert max(pauses) == MAX_BACKOFF == 5.0
    backoff.reset()
    assert backoff.next() == 0.1


class _Flaky(BackgroundLoop):
    def __init__(self, failures: int):
        super().__init__("flaky", backoff=Backoff(first=0.001, longest=0.01))
        self.failures = failures
        self.steps = 0
        self.pauses: list[float] = []
        self.recovered = threading.Event()

    def step(self) -> None:
        self.steps += 1
        if self.steps <= self.failures:
            raise RuntimeError("not yet")
        self.recovered.set()
        self.sleep(0.01)

    def failed(self, exc: Exception, pause: float) -> None:
        self.pauses.append(pause)
        self.sleep(pause)


def test_a_loop_resumes_by_itself_after_failures_and_stops_when_asked() -> None:
    loop = _Flaky(failures=5)
    loop.start()
    try:
        assert loop.recovered.wait(5)
    finally:
        loop.stop(timeout=5)
    assert loop.pauses == [0.001, 0.002, 0.004, 0.008, 0.01]
    assert loop.stopping
