"""Projections recover in-process: workers racing, a restart, a lost LISTEN.

Every test runs on SQLite and on PostgreSQL (the LISTEN test on PostgreSQL only). The
read models must hold each recorded fact exactly once, and the projection's position
must end at the head of the store.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from bench.common.processes import wait_until
from service.bootstrap import Container, bootstrap
from service.readmodels.projection import ReadModelProjection
from service.readmodels.tables import fact_revisions
from service.readmodels.worker import ProjectionWorker
from service.settings import Settings
from tests.support.projections import assert_exactly_once, position, record_statements, statement

# --- two workers on one projection ---------------------------------------------------


def run_concurrently(settings: Settings, count: int = 2, batch_size: int = 50) -> list[Any]:
    """``count`` workers, each built like bootstrap builds one (own engine and recorder),
    run ``catch_up()`` at the same moment in threads. Returns each one's result or exception."""
    containers = [bootstrap(settings, apply_migrations=False) for _ in range(count)]
    workers = [
        ProjectionWorker(
            ReadModelProjection(),
            recorder=c.store.recorder,
            mapper=c.store.mapper,
            engine=c.engine,
            batch_size=batch_size,
        )
        for c in containers
    ]
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait(10)
            results[index] = workers[index].catch_up()
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "a worker did not finish in 60 s"
    finally:
        for c in containers:
            c.close()
    return results


def test_two_workers_starting_on_an_empty_projection_apply_each_event_exactly_once(
    container: Container, settings: Settings
) -> None:
    # No position row exists yet: both workers try to create it.
    recorded = record_statements(container, 2_000, "empty")
    results = run_concurrently(settings)
    assert_exactly_once(container, recorded)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a worker crashed instead of yielding to the other: {errors!r}"
    assert sum(results) == len(recorded), results


def test_workers_racing_from_the_middle_of_the_log_apply_each_event_exactly_once(
    container: Container, settings: Settings
) -> None:
    recorded = record_statements(container, 1_000, "first")
    assert container.read_models.catch_up() == 1_000
    recorded |= record_statements(container, 2_000, "second")
    results = run_concurrently(settings, count=3)
    assert_exactly_once(container, recorded)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a worker crashed instead of yielding to the others: {errors!r}"
    assert sum(results) == 2_000, results


class CountingProjection(ReadModelProjection):
    """The read-model projection, counting the events this instance applied (committed or not)."""

    def __init__(self) -> None:
        self.applied = 0

    def apply(self, conn: Any, events: Any) -> None:
        super().apply(conn, events)
        self.applied += len(events)


def test_background_workers_contending_on_every_batch_apply_each_event_exactly_once(
    container: Container, settings: Settings
) -> None:
    # The background loop, as `serve` and `worker` run it: the losers of a race try again at once,
    # so the workers contend for every batch rather than giving up after the first.
    recorded = record_statements(container, 3_000, "contended")
    containers = [bootstrap(settings, apply_migrations=False) for _ in range(3)]
    projections = [CountingProjection() for _ in containers]
    workers = [
        ProjectionWorker(
            p, recorder=c.store.recorder, mapper=c.store.mapper, engine=c.engine, batch_size=50, poll_interval=0.05
        )
        for p, c in zip(projections, containers, strict=True)
    ]
    try:
        for worker in workers:
            worker.start()
        head = container.store.max_position()
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        recorded |= record_statements(container, 500, "while-running", batch=25)
        head = container.store.max_position()
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
    finally:
        for worker in workers:
            worker.stop()
        for c in containers:
            c.close()
    assert_exactly_once(container, recorded)
    # A worker applies a batch only after winning the compare-and-set on the position.
    applied = [p.applied for p in projections]
    print("events applied per worker:", applied)
    assert sum(applied) == len(recorded), applied


# --- restart ---------------------------------------------------------------------------


def test_a_restart_resumes_where_it_stopped(container: Container, settings: Settings) -> None:
    first = record_statements(container, 700, "before")
    assert container.read_models.catch_up() == 700
    assert container.read_models.catch_up() == 0
    assert_exactly_once(container, first)

    later = record_statements(container, 300, "after")
    restarted = bootstrap(settings, apply_migrations=False)
    try:
        assert position(restarted.engine) == max(first.values())
        progress: list[tuple[int, int]] = []
        assert restarted.read_models.catch_up(lambda done, pos: progress.append((done, pos))) == 300
        assert progress[-1] == (300, restarted.store.max_position())
        assert restarted.read_models.catch_up() == 0
    finally:
        restarted.close()
    assert_exactly_once(container, first | later)


# --- PostgreSQL: the LISTEN connection is cut -----------------------------------------


def listen_backends(engine: Engine) -> list[int]:
    """Backends of this database that are LISTENing (other databases are someone else's)."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


@pytest.mark.parametrize("poll_interval", [1.0, 60.0], ids=["default-poll", "no-poll-fallback"])
def test_postgres_listener_reconnects_after_its_connection_is_killed(
    container: Container, settings: Settings, database_url: str, poll_interval: float
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    # With the poll fallback pushed out of reach, only a NOTIFY on a new LISTEN
    # connection can wake the worker in time.
    container.read_models.poll_interval = poll_interval
    writer = bootstrap(settings, apply_migrations=False)  # another process, as far as the worker knows
    admin = create_engine(database_url)
    try:
        container.start_workers()
        # Let the worker go idle in its wait, so only a wake-up makes it look again.
        original = wait_until(lambda: listen_backends(admin), timeout=10, what="a LISTEN connection")
        assert len(original) == 1, original
        time.sleep(0.2)

        with admin.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            ).all()
        assert [pid for pid, ok in killed if ok] == original

        reconnected = wait_until(
            lambda: [pid for pid in listen_backends(admin) if pid not in original],
            timeout=10,
            what="the listener to LISTEN again on a new connection",
        )
        assert len(reconnected) == 1, reconnected
        time.sleep(0.2)  # the listener's catch-up wake after reconnecting has been spent

        (outcome,) = writer.store.record_facts([statement(1, "after-the-cut")])
        target = outcome.fact["position"]
        started = time.monotonic()
        wait_until(
            lambda: position(container.engine) >= target,
            timeout=5,
            what=f"the fact recorded elsewhere (position {target}) to reach the read models",
        )
        took = time.monotonic() - started
        with container.engine.connect() as conn:
            assert (
                conn.execute(
                    select(func.count())
                    .select_from(fact_revisions)
                    .where(fact_revisions.c.event_id == outcome.fact["event_id"])
                ).scalar_one()
                == 1
            )
        if poll_interval > 5:
            assert took < 5
    finally:
        container.stop_workers()
        writer.close()
        admin.dispose()
