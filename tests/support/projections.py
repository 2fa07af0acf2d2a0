"""Facts recorded straight into the store, and checks that the read models hold each exactly once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, select

from service.bootstrap import Container
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
from service.readmodels.worker import read_position

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


def record_statements(container: Container, count: int, tag: str = "", batch: int = 500) -> dict[str, int]:
    """Record ``count`` new facts through the store; returns {event_id: position}."""
    recorded: dict[str, int] = {}
    for start in range(0, count, batch):
        outcomes = container.store.record_facts([statement(i, tag) for i in range(start, min(start + batch, count))])
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
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for table in READ_MODEL_TABLES
        } | {
            "projection_positions": [
                tuple(row)
                for row in conn.execute(select(projection_positions).where(projection_positions.c.name == NAME))
            ]
        }
