"""The read-model projection: turns stored events into timeline rows.

``apply`` runs inside the caller's transaction, which also moves the
projection's position, so each event is applied exactly once. A change to a
fact closes the fact's current versions in transaction time and opens the
versions that the change makes known (see ``service.domain.revisions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from service.domain.aggregates import CHANGE_KINDS, Actor, Fact
from service.domain.instants import text_to_micros, to_micros
from service.domain.replay import fold_input
from service.domain.revisions import KIND_CORRECTED, KIND_RECORDED, Change, fold, versions
from service.readmodels import checkpoints
from service.readmodels.tables import (
    READ_MODEL_TABLES,
    actors,
    fact_actors,
    fact_revisions,
    fact_versions,
)
from service.readmodels.tallies import CHECKPOINT_EVERY, Tallies
from service.store.sql import dialect_insert, insert_rows


def role_column(roles: Sequence[str]) -> str:
    return "," + ",".join(roles) + ","


def change_from_row(row: Any) -> Change:
    """A ``fact_revisions`` row back as the domain's Change."""
    return Change(
        revision=row.revision,
        kind=row.kind,
        recorded_us=row.recorded_us,
        reported_us=row.reported_us,
        record=row.body if row.kind == KIND_RECORDED else None,
        changes=row.changes or {},
        added_sources=row.added_sources or [],
    )


@dataclass
class _History:
    """A fact's changes so far, and the rows this batch will insert for it."""

    changes: list[Change]
    first_position: int
    fact_recorded_us: int
    next_version: int
    open_versions: list[dict[str, Any]] = field(default_factory=list)
    open_actor_rows: list[dict[str, Any]] = field(default_factory=list)


class _Batch:
    def __init__(self, conn: Connection, tallies: Tallies):
        self.conn = conn
        self.histories: dict[str, _History] = {}
        self.revisions: list[dict[str, Any]] = []
        self.versions: list[dict[str, Any]] = []
        self.actor_rows: list[dict[str, Any]] = []
        self.named: dict[str, int] = {}
        self.changed: list[str] = []  # facts corrected or retracted: their earlier rows were closed
        self.tallies = tallies

    def history(self, event_id: str) -> _History:
        found = self.histories.get(event_id)
        if found is None:
            found = self.histories[event_id] = self._load(event_id)
        return found

    def _load(self, event_id: str) -> _History:
        rows = self.conn.execute(
            select(fact_revisions).where(fact_revisions.c.event_id == event_id).order_by(fact_revisions.c.revision)
        ).all()
        last_version = self.conn.execute(
            select(func.max(fact_versions.c.version)).where(fact_versions.c.event_id == event_id)
        ).scalar()
        return _History(
            changes=[change_from_row(r) for r in rows],
            first_position=rows[0].first_position,
            fact_recorded_us=rows[0].fact_recorded_us,
            next_version=(last_version or 0) + 1,
        )


class ReadModelProjection:
    """Facts: their change log, their versions on both time axes, (actor, version) rows; actors."""

    name = "read_models"
    rebuildable = True
    follows: str | None = None
    fold_fanout = checkpoints.FANOUT
    checkpoint_every = CHECKPOINT_EVERY

    def apply(self, conn: Connection, events: Sequence[tuple[int, Any]]) -> None:
        batch = _Batch(conn, Tallies(self.checkpoint_every))
        profiles: list[tuple[int, dict[str, Any]]] = []
        for position, event in events:
            if isinstance(event, Fact.Created):
                self._recorded(batch, position, event)
            elif isinstance(event, (Fact.Corrected, Fact.Retracted)):
                self._changed(batch, position, event)
            elif isinstance(event, (Actor.Registered, Actor.ProfileChanged)):
                profiles.append((position, event.profile))
        for table, rows in (
            (fact_revisions, batch.revisions),
            (fact_versions, batch.versions),
            (fact_actors, batch.actor_rows),
        ):
            if rows:
                insert_rows(conn, table, rows)
        checkpoints.maintain(conn, checkpoints.touches(conn, batch.actor_rows, batch.changed), self.fold_fanout)
        batch.tallies.write(conn)
        if batch.named:
            conn.execute(
                dialect_insert(conn, actors).on_conflict_do_nothing(index_elements=["id"]),
                [
                    {
                        "id": actor_id,
                        "name": actor_id,
                        "kind": None,
                        "parent": None,
                        "aliases": [],
                        "registered": False,
                        "first_position": position,
                    }
                    for actor_id, position in batch.named.items()
                ],
            )
        for position, profile in profiles:
            statement = dialect_insert(conn, actors).values(**profile, registered=True, first_position=position)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["id"],
                    set_={k: statement.excluded[k] for k in ("name", "kind", "parent", "aliases")}
                    | {"registered": True},
                )
            )

    def reset(self, conn: Connection) -> None:
        for table in reversed(READ_MODEL_TABLES):
            conn.execute(delete(table))

    def _recorded(self, batch: _Batch, position: int, event: Fact.Created) -> None:
        record = event.record
        recorded_us = to_micros(event.timestamp)
        reported_us = text_to_micros(record["reported_at"]) if record["reported_at"] else recorded_us
        change = Change(1, KIND_RECORDED, recorded_us, reported_us, record=record)
        history = batch.histories[record["event_id"]] = _History(
            changes=[], first_position=position, fact_recorded_us=recorded_us, next_version=1
        )
        self._append(batch, history, position, change, reason=None)

    def _changed(self, batch: _Batch, position: int, event: Any) -> None:
        event_id = str(event.originator_id)
        history = batch.history(event_id)
        batch.changed.append(event_id)
        recorded_us = to_micros(event.timestamp)
        reported_us = text_to_micros(event.reported_at) if event.reported_at else recorded_us
        corrected = isinstance(event, Fact.Corrected)
        change = Change(
            revision=event.originator_version,
            kind=CHANGE_KINDS[type(event)],
            recorded_us=recorded_us,
            reported_us=reported_us,
            changes=event.changes if corrected else {},
            added_sources=event.added_sources if corrected else [],
        )
        self._close_open_versions(batch, history, event_id, recorded_us)
        self._append(batch, history, position, change, reason=event.reason)

    @staticmethod
    def _close_open_versions(batch: _Batch, history: _History, event_id: str, at_us: int) -> None:
        if history.open_versions or history.open_actor_rows:
            for row in (*history.open_versions, *history.open_actor_rows):
                row["superseded_us"] = at_us
            return
        for table in (fact_versions, fact_actors):
            batch.conn.execute(
                update(table)
                .where(table.c.event_id == event_id, table.c.superseded_us.is_(None))
                .values(superseded_us=at_us)
            )

    @staticmethod
    def _append(batch: _Batch, history: _History, position: int, change: Change, reason: str | None) -> None:
        before = fold(history.changes) if history.changes else None
        history.changes.append(change)
        now = fold(history.changes)
        batch.tallies.replace(before, now, change.recorded_us, position)
        event_id = now.record["event_id"]
        batch.revisions.append(
            {
                "event_id": event_id,
                "revision": change.revision,
                "position": position,
                "first_position": history.first_position,
                "kind": change.kind,
                "type": now.record["type"],
                "fact_recorded_us": history.fact_recorded_us,
                "recorded_us": change.recorded_us,
                "reported_us": change.reported_us,
                "reason": reason,
                "changes": change.changes if change.kind == KIND_CORRECTED else None,
                "added_sources": change.added_sources or None,
                "status": now.status,
                "body": change.record if change.kind == KIND_RECORDED else now.record,
            }
        )
        history.open_versions, history.open_actor_rows = [], []
        for version in versions(history.changes):
            known = version.known
            occurred_us = text_to_micros(known.record["occurred_at"])
            common = {
                "event_id": event_id,
                "version": history.next_version,
                "type": known.record["type"],
                "status": known.status,
                "occurred_us": occurred_us,
                "first_position": history.first_position,
                "recorded_us": change.recorded_us,
                "superseded_us": None,
                "reported_from_us": version.reported_from_us,
                "reported_until_us": version.reported_until_us,
            }
            history.next_version += 1
            row = {
                **common,
                "revision": known.revision,
                "fact_recorded_us": history.fact_recorded_us,
                "body": known.record,
            }
            history.open_versions.append(row)
            batch.versions.append(row)
            roles: dict[str, list[str]] = {}
            for ref in known.record["actors"]:
                roles.setdefault(ref["id"], []).append(ref["role"])
            for actor_id, actor_roles in roles.items():
                actor_row = {
                    **common,
                    "actor_id": actor_id,
                    "roles": role_column(actor_roles),
                    "fold": fold_input(known.record, frozenset(actor_roles)),
                }
                history.open_actor_rows.append(actor_row)
                batch.actor_rows.append(actor_row)
                batch.named.setdefault(actor_id, position)
