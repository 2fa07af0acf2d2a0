"""Prometheus metrics: what this process counts, and what the database says at scrape time.

Counters and histograms (requests, appends, webhook attempts) live in the process
that did the work. With several API processes (``serve --processes N``) each writes
them to files in ``PROMETHEUS_MULTIPROC_DIR`` and any process's ``/metrics`` adds
them all up (prometheus_client's multiprocess mode). Positions, projection lag and
webhook message counts are read from the database at each scrape instead, so they
are the same whichever process answers and include workers running elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class StoreReading:
    """What the database says now: the log's head, each projection's position, webhook messages."""

    head: int
    projections: dict[str, int]
    webhook_messages: dict[str, int]


class _StoreCollector(Collector):
    def __init__(self, read: Callable[[], StoreReading]):
        self.read = read

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("timeline_database_up", "1 when the database answered this scrape")
        try:
            reading = self.read()
        except Exception as exc:  # a scrape reports the outage; it does not fail
            log.warning("metrics could not read the database: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("timeline_store_position", "position of the last event in the log", value=reading.head)
        position = GaugeMetricFamily(
            "timeline_projection_position", "last log position applied by each projection", labels=["projection"]
        )
        lag = GaugeMetricFamily(
            "timeline_projection_lag", "log positions not yet applied by each projection", labels=["projection"]
        )
        for name, at in reading.projections.items():
            position.add_metric([name], at)
            lag.add_metric([name], max(reading.head - at, 0))
        yield position
        yield lag
        messages = GaugeMetricFamily(
            "timeline_webhook_messages", "webhook messages by delivery status", labels=["status"]
        )
        for status in ("pending", "delivered", "failed"):
            messages.add_metric([status], reading.webhook_messages.get(status, 0))
        yield messages


class Metrics:
    """The service's metrics, on a registry of their own (nothing global is touched)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "timeline_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "timeline_http_request_duration_seconds",
            "time to answer an HTTP request, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.append_seconds = Histogram(
            "timeline_append_duration_seconds",
            "time to commit one append (a fact, a batch, a change) to the log",
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self.appended = Counter("timeline_appended_events", "domain events committed to the log", registry=r)
        self.webhook_attempts = Counter(
            "timeline_webhook_attempts",
            "webhook delivery attempts by outcome",
            ["outcome"],
            registry=r,
        )
        self._store: _StoreCollector | None = None

    def read_store_with(self, read: Callable[[], StoreReading]) -> None:
        self._store = _StoreCollector(read)
        self.registry.register(self._store)

    # --- what the service reports ------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def observe_append(self, events: int, seconds: float) -> None:
        self.append_seconds.observe(seconds)
        self.appended.inc(events)

    def observe_webhook_attempt(self, outcome: str) -> None:
        self.webhook_attempts.labels(outcome).inc()

    # --- scraping ----------------------------------------------------------------------

    def render(self) -> bytes:
        if not os.environ.get(MULTIPROCESS_ENV):
            return generate_latest(self.registry)
        # Several processes: their counters from the shared files, the database's gauges once.
        scrape = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
        if self._store is not None:
            scrape.register(self._store)
        return generate_latest(scrape)
