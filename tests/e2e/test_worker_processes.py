"""Projection workers as real processes: one killed mid-stream, two at once, and the rebuild command.

Every test runs on SQLite and on PostgreSQL. The read models must hold each recorded fact
exactly once, and the projection's position must end at the head of the store.
"""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import func, select

from bench.common.processes import run_service, service_env, start_service, wait_until
from service.bootstrap import Container, bootstrap
from service.domain.actors import ActorProfileIn, profile_record
from service.readmodels.tables import actors, fact_actors, fact_revisions
from service.settings import Settings
from tests.support.projections import (
    NAME,
    assert_exactly_once,
    position,
    record_statements,
    table_snapshot,
)


def test_a_worker_killed_mid_stream_resumes_without_losing_or_doubling_a_fact(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    recorded = record_statements(container, 10_000, "killed")
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
                lambda child=child, before=before: not child.alive() or position(container.engine) > before,
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


def test_two_worker_processes_at_once_apply_each_event_exactly_once(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    recorded = record_statements(container, 4_000, "processes")
    head = container.store.max_position()
    env = service_env(settings.database_url)
    children = [start_service(["worker"], env, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        # Both keep running: more facts, recorded while both follow the log, land once too.
        recorded |= record_statements(container, 1_000, "while-running", batch=100)
        head = container.store.max_position()
        wait_until(lambda: position(container.engine) >= head, timeout=30, what="the workers to reach the head")
        assert all(child.alive() for child in children), [child.output() for child in children]
        for child in children:
            assert child.stop(15) == 0, child.output()
    finally:
        for child in children:
            child.kill()
    assert_exactly_once(container, recorded)


def test_rebuild_projections_command_drops_and_rebuilds_the_same_rows(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    for actor_id, name, kind in (
        ("spokesperson", "The Spokesperson", "person"),
        ("subject-3", "Subject Three", "state"),
    ):
        container.store.register_actor(
            profile_record(actor_id, ActorProfileIn(name=name, kind=kind, aliases=[name.upper()]))
        )
    recorded = record_statements(container, 1_200, "rebuild")
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
