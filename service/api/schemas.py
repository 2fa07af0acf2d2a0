"""Response shapes, for the OpenAPI document (answers are built as plain dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.stats import Granularity


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class ActorRole(_Doc):
    id: str
    role: str


class StoredFact(_Doc):
    """A fact as stored: the envelope, its type's own fields, and what the store assigned."""

    event_id: str
    type: str
    occurred_at: str
    occurred_until: str | None
    precision: str
    reported_at: str
    recorded_at: str
    position: int = Field(description="position at which the fact was first recorded")
    revision: int
    status: Literal["active", "retracted"]
    summary: str
    actors: list[ActorRole]
    location: dict[str, Any] | None
    sources: list[dict[str, Any]]
    confidence: str
    refers_to: list[str]


class Revision(_Doc):
    revision: int
    position: int
    recorded_at: str
    reported_at: str
    kind: Literal["recorded", "corrected", "retracted"]
    reason: str | None
    changes: dict[str, Any] | None


class FactWithRevisions(StoredFact):
    revisions: list[Revision]


class TimelineItem(StoredFact):
    role: str = Field(description="the actor's (first) role in the fact")
    roles: list[str]


class FactPage(_Doc):
    items: list[StoredFact]
    next_cursor: str | None


class TimelinePage(_Doc):
    items: list[TimelineItem]
    next_cursor: str | None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class BatchOut(_Doc):
    items: list[StoredFact]


class Actor(_Doc):
    id: str
    name: str
    kind: str | None
    parent: str | None
    aliases: list[str]


class ActorItem(Actor):
    event_count: int
    first_occurred_at: str | None
    last_occurred_at: str | None


class ActorPage(_Doc):
    items: list[ActorItem]
    next_cursor: str | None


class ActorSaved(Actor):
    position: int | None = Field(description="position of the recorded change; null when nothing changed")


class ActorState(_Doc):
    actor: str
    at: str
    as_of: str
    reported_by: str | None
    missions: dict[str, Any]
    deployments: dict[str, Any]
    strikes: dict[str, int]
    statements: int
    event_count: int
    last_event: dict[str, Any] | None


class WorldState(_Doc):
    at: str
    as_of: str
    reported_by: str | None
    actors: dict[str, dict[str, Any]]


class Change(_Doc):
    position: int
    kind: Literal["recorded", "corrected", "retracted"]
    event_id: str
    recorded_at: str
    event: StoredFact


class ChangePage(_Doc):
    items: list[Change]
    next_after: int


class Tally(_Doc):
    count: int
    fatalities: int
    types: dict[str, int]


class Bucket(_Doc):
    # Fields in the order of the answer: where the bucket lies, then its tally.
    start: str
    end: str | None = Field(description="exclusive; null only for the bucket that holds 9999-12-31")
    count: int
    fatalities: int
    types: dict[str, int]


class Stats(_Doc):
    by: Granularity
    from_: str | None = Field(alias="from")
    to: str | None
    as_of: str
    reported_by: str | None
    buckets: list[Bucket]
    total: Tally


class ProblemDoc(_Doc):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


PROBLEM = {"model": ProblemDoc, "content": {"application/problem+json": {}}}
