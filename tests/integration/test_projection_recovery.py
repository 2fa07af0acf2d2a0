"""Projections recover: a killed worker, two workers at once, a rebuild, a restart, a lost LISTEN.

Every test runs on SQLite and on PostgreSQL (the LISTEN test on PostgreSQL only). The
read models must hold each recorded fact exactly once, and the projection's position
must end at the head of the store.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from bench.common.processes import run_service, service_env, start_service, wait_until
from service.bootstrap import Container, bootstrap
from service.domain.actors import ActorProfileIn, profile_record
from service.domain.facts import validate_fact
from service.readmodels.projection import ReadModelProjection
from service.readmodels.tables import (
    READ_MODEL_TABLES,
    actors,
    fact_actors,
    fact_revisions,
    fact_versions,
    projection_positions,
)
from service.readmodels.worker import ProjectionWorker, read_position
from service.settings import Settings

NAME = ReadModelProjection.name  # "read_models"
SUBJECTS = 7  # facts name one of this many subjects, plus one speaker


def statement(index: int, tag: str = "") -> Any:
    """A valid StatementIssued with a unique summary and two actors (speaker, subject)."""
    return validate_fact(
        {
            "type": "StatementIssued",
            "occurred_at": f"2020-01-{1 + index % 28:02d}T{index % 24:02d}:00:00Z",
            "summary": f"statement {tag} {index} {uuid.uuid4()}",
            "actors": [
                {"id": "spokesperson", "role": "speaker"},
                {"id": f"subject-{index % SUBJECTS}", "role": "subject"},
            ],
            "text": f"text of statement {index}",
        }
    )


def record(container: Container, count: int, tag: str = "", batch: int = 500) -> dict[str, int]:
    """Record ``count`` new facts through the store; returns {event_id: position}."""
    recorded: dict[str, int] = {}
    for start in range(0, count, batch):
        outcomes = container.store.record_facts(
            [statement(i, tag) for i in range(start, min(start + batch, count))]
        )
        for outcome in outcomes:
            assert outcome.created
            recorded[outcome.fact["event_id"]] = outcome.fact["position"]
    return recorded


def position(engine: Engine) -> int:
    with engine.connect() as conn:
        return read_position(conn, NAME)


def assert_exactly_once(container: Container, recorded: dict[str, int]) -> None:
    """Each recorded fact once in fact_revisions and once per actor in fact_actors; position at head."""
    with container.engine.connect() as conn:
        revisions = conn.execute(
            select(fact_revisions.c.event_id, fact_revisions.c.revision, fact_revisions.c.position)
        ).all()
        actor_rows = conn.execute(select(fact_actors.c.actor_id, fact_actors.c.event_id)).all()
        version_ids = conn.execute(select(fact_versions.c.event_id)).scalars().all()
        actor_ids = set(conn.execute(select(actors.c.id)).scalars())
        positions = conn.execute(
            select(projection_positions.c.name, projection_positions.c.position).where(
                projection_positions.c.name == NAME
            )
        ).all()
    assert len(revisions) == len(recorded), f"{len(revisions)} revision rows for {len(recorded)} facts"
    event_ids = [row.event_id for row in revisions]
    assert len(set(event_ids)) == len(event_ids), "a fact was applied twice"
    assert {row.event_id: row.position for row in revisions} == recorded
    assert all(row.revision == 1 for row in revisions)
    assert sorted(version_ids) == sorted(recorded), "fact_versions: not one version per fact"
    assert len(actor_rows) == 2 * len(recorded)
    assert len(set(actor_rows)) == len(actor_rows), "an (actor, fact) row was applied twice"
    per_fact: dict[str, set[str]] = {}
    for actor_id, event_id in actor_rows:
        per_fact.setdefault(event_id, set()).add(actor_id)
    assert set(per_fact) == set(recorded)
    assert all(len(named) == 2 and "spokesperson" in named for named in per_fact.values())
    assert {"spokesperson", *(f"subject-{i}" for i in range(SUBJECTS))} <= actor_ids
    head = container.store.max_position()
    assert positions == [(NAME, head)]
    assert head == max(recorded.values())


def table_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row and the positions, ordered by primary key, as plain tuples."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in READ_MODEL_TABLES
        } | {
            "projection_positions": [
                tuple(row)
                for row in conn.execute(
                    select(projection_positions).where(projection_positions.c.name == NAME)
                )
            ]
        }


# --- a worker killed mid-stream ------------------------------------------------------


def test_a_worker_killed_mid_stream_resumes_without_losing_or_doubling_a_fact(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    recorded = record(container, 10_000, "killed")
    head = container.store.max_position()
    assert position(container.engine) == 0
    env = service_env(settings.database_url)
    kills: list[int] = []
    for attempt in range(3):
        before = position(container.engine)
        child = start_service(["worker"], env, tmp_path / f"worker-{attempt}.log")
        try:
            # Poll as fast as we can: a batch takes tens of milliseconds.
            wait_until(
                lambda: not child.alive() or position(container.engine) > before,
                timeout=30,
                interval=0.001,
                what="the worker to apply a batch",
            )
            child.process.send_signal(signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL, child.output()
        finally:
            child.kill()
        killed_at = position(container.engine)
        assert before < killed_at, child.output()
        assert killed_at < head, "the worker finished before it could be killed: record more facts"
        kills.append(killed_at)

    # What the killed workers committed is exactly what their position says: nothing after it.
    with container.engine.connect() as conn:
        applied = conn.execute(select(func.count()).select_from(fact_revisions)).scalar_one()
        max_applied = conn.execute(select(func.max(fact_revisions.c.position))).scalar_one()
    assert max_applied == kills[-1]
    assert applied == sum(1 for p in recorded.values() if p <= kills[-1])

    # A fresh worker picks up where the last one was killed.
    resumed = bootstrap(settings, apply_migrations=False)
    try:
        assert resumed.read_models.catch_up() == len(recorded) - applied
    finally:
        resumed.close()
    assert_exactly_once(container, recorded)


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
    recorded = record(container, 2_000, "empty")
    results = run_concurrently(settings)
    assert_exactly_once(container, recorded)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a worker crashed instead of yielding to the other: {errors!r}"
    assert sum(results) == len(recorded), results


def test_workers_racing_from_the_middle_of_the_log_apply_each_event_exactly_once(
    container: Container, settings: Settings
) -> None:
    recorded = record(container, 1_000, "first")
    assert container.read_models.catch_up() == 1_000
    recorded |= record(container, 2_000, "second")
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
    # run_forever, as `serve` and `worker` run it: the losers of a race try again at once,
    # so the workers contend for every batch rather than giving up after the first.
    recorded = record(container, 3_000, "contended")
    containers = [bootstrap(settings, apply_migrations=False) for _ in range(3)]
    projections = [CountingProjection() for _ in containers]
    workers = [
        ProjectionWorker(p, recorder=c.store.recorder, mapper=c.store.mapper, engine=c.engine,
                         batch_size=50, poll_interval=0.05)
        for p, c in zip(projections, containers)
    ]
    try:
        for worker in workers:
            worker.start()
        head = container.store.max_position()
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        recorded |= record(container, 500, "while-running", batch=25)
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


def test_two_worker_processes_at_once_apply_each_event_exactly_once(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    recorded = record(container, 4_000, "processes")
    head = container.store.max_position()
    env = service_env(settings.database_url)
    children = [start_service(["worker"], env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        # Both keep running: more facts, recorded while both follow the log, land once too.
        recorded |= record(container, 1_000, "while-running", batch=100)
        head = container.store.max_position()
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        assert all(child.alive() for child in children), [child.output() for child in children]
        for child in children:
            assert child.stop(15) == 0, child.output()
    finally:
        for child in children:
            child.kill()
    assert_exactly_once(container, recorded)


# --- rebuild ---------------------------------------------------------------------------


def test_rebuild_projections_command_drops_and_rebuilds_the_same_rows(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    for actor_id, name, kind in (("spokesperson", "The Spokesperson", "person"), ("subject-3", "Subject Three", "state")):
        container.store.register_actor(profile_record(actor_id, ActorProfileIn(name=name, kind=kind, aliases=[name.upper()])))
    recorded = record(container, 1_200, "rebuild")
    container.store.register_actor(profile_record("subject-3", ActorProfileIn(name="Subject 3", kind="state")))
    container.read_models.catch_up()
    before = table_snapshot(container.engine)
    assert len(before["fact_revisions"]) == len(recorded)
    assert before["projection_positions"] == [(NAME, container.store.max_position())]

    # Damage the read models (the position stays): only a replay from the log repairs this.
    with container.engine.begin() as conn:
        conn.execute(fact_actors.delete().where(fact_actors.c.actor_id == "subject-1"))
        conn.execute(fact_revisions.delete().where(fact_revisions.c.position <= 100))
        conn.execute(actors.update().where(actors.c.id == "subject-3").values(name="wrong"))
    assert table_snapshot(container.engine) != before

    code, output = run_service(["rebuild-projections"], service_env(settings.database_url), tmp_path / "rebuild.log")
    assert code == 0, output
    after = table_snapshot(container.engine)
    for name in before:
        assert after[name] == before[name], name
    assert_exactly_once_with_profiles(container, recorded)


def assert_exactly_once_with_profiles(container: Container, recorded: dict[str, int]) -> None:
    with container.engine.connect() as conn:
        subject_3 = conn.execute(select(actors).where(actors.c.id == "subject-3")).one()
        count = conn.execute(select(func.count()).select_from(fact_revisions)).scalar_one()
    assert (subject_3.name, subject_3.kind, subject_3.registered) == ("Subject 3", "state", True)
    assert count == len(recorded)


# --- restart ---------------------------------------------------------------------------


def test_a_restart_resumes_where_it_stopped(container: Container, settings: Settings) -> None:
    first = record(container, 700, "before")
    assert container.read_models.catch_up() == 700
    assert container.read_models.catch_up() == 0
    assert_exactly_once(container, first)

    later = record(container, 300, "after")
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
            assert conn.execute(
                select(func.count()).select_from(fact_revisions).where(
                    fact_revisions.c.event_id == outcome.fact["event_id"]
                )
            ).scalar_one() == 1
        if poll_interval > 5:
            assert took < 5
    finally:
        container.stop_workers()
        writer.close()
        admin.dispose()
