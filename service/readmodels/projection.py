"""The read-model projection: turns stored events into timeline rows.

``apply`` runs inside the caller's transaction, which also moves the
projection's position, so each event is applied exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from service.domain.aggregates import Actor, Fact
from service.domain.instants import text_to_micros, to_micros
from service.readmodels.tables import READ_MODEL_TABLES, actors, fact_actors, fact_revisions


def dialect_insert(conn: Connection, table: Any) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def role_column(roles: Sequence[str]) -> str:
    return "," + ",".join(roles) + ","


class ReadModelProjection:
    """Facts with their revisions, (actor, fact) rows, and actors."""

    name = "read_models"

    def apply(self, conn: Connection, events: Sequence[tuple[int, Any]]) -> None:
        revisions: list[dict[str, Any]] = []
        actor_rows: list[dict[str, Any]] = []
        named: dict[str, int] = {}
        profiles: list[tuple[int, dict[str, Any]]] = []
        for position, event in events:
            if isinstance(event, Fact.Created):
                revision, rows = self._recorded(position, event)
                revisions.append(revision)
                actor_rows.extend(rows)
                for row in rows:
                    named.setdefault(row["actor_id"], position)
            elif isinstance(event, (Actor.Registered, Actor.ProfileChanged)):
                profiles.append((position, event.profile))
        if revisions:
            conn.execute(fact_revisions.insert(), revisions)
        if actor_rows:
            conn.execute(fact_actors.insert(), actor_rows)
        if named:
            conn.execute(
                dialect_insert(conn, actors).on_conflict_do_nothing(index_elements=["id"]),
                [
                    {"id": actor_id, "name": actor_id, "kind": None, "parent": None,
                     "aliases": [], "registered": False, "first_position": position}
                    for actor_id, position in named.items()
                ],
            )
        for position, profile in profiles:
            statement = dialect_insert(conn, actors).values(
                **profile, registered=True, first_position=position
            )
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

    @staticmethod
    def _recorded(position: int, event: Fact.Created) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        record = event.record
        recorded_us = to_micros(event.timestamp)
        reported_us = text_to_micros(record["reported_at"]) if record["reported_at"] else recorded_us
        occurred_us = text_to_micros(record["occurred_at"])
        revision = {
            "event_id": record["event_id"],
            "revision": 1,
            "position": position,
            "first_position": position,
            "kind": "recorded",
            "type": record["type"],
            "status": "active",
            "occurred_us": occurred_us,
            "fact_recorded_us": recorded_us,
            "recorded_us": recorded_us,
            "reported_us": reported_us,
            "superseded_us": None,
            "body": record,
            "reason": None,
            "changes": None,
        }
        roles: dict[str, list[str]] = {}
        for ref in record["actors"]:
            roles.setdefault(ref["id"], []).append(ref["role"])
        rows = [
            {
                "actor_id": actor_id,
                "event_id": record["event_id"],
                "revision": 1,
                "roles": role_column(actor_roles),
                "type": record["type"],
                "status": "active",
                "occurred_us": occurred_us,
                "first_position": position,
                "recorded_us": recorded_us,
                "reported_us": reported_us,
                "superseded_us": None,
            }
            for actor_id, actor_roles in roles.items()
        ]
        return revision, rows
