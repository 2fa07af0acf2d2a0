"""Request bodies the API parses, and the shapes of its answers for the OpenAPI document
(answers are built as plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from service.domain.facts import FACT_TYPES, MAX_POSITION, FactIn, FactType, Instant, Slug
from service.domain.stats import Granularity
from service.domain.text import Text, Url

MAX_BATCH_FACTS = 1000


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


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: Annotated[list[FactIn], Field(min_length=1, max_length=MAX_BATCH_FACTS)]


class BatchOut(_Doc):
    items: list[StoredFact]


class ChangedFact(StoredFact):
    change_position: int


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


class _Span(_Doc):
    start: str
    end: str | None = Field(description="exclusive; null only for the bucket that holds 9999-12-31")


# Pydantic takes the fields of the last base first: the span, then the tally, as in the answer.
class Bucket(Tally, _Span):
    pass


class Stats(_Doc):
    by: Granularity
    from_: str | None = Field(alias="from")
    to: str | None
    as_of: str
    reported_by: str | None
    buckets: list[Bucket]
    total: Tally


# --- webhook subscriptions -------------------------------------------------------------

SubscribedTypes = Annotated[list[FactType], Field(max_length=len(FACT_TYPES))]
SubscribedActors = Annotated[list[Slug], Field(max_length=200)]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    types: SubscribedTypes = []
    actors: SubscribedActors = []
    description: Text | None = None


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    types: SubscribedTypes | None = None
    actors: SubscribedActors | None = None
    status: Literal["active", "paused"] | None = None
    description: Text | None = None

    # Left out, a field keeps its value; it cannot be set to null.
    NOT_NULL: ClassVar[tuple[str, ...]] = ("url", "types", "actors", "status")

    @field_validator(*NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out to keep it; it cannot be null")
        return value


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: Annotated[int, Strict(), Field(ge=0, le=MAX_POSITION)] | None = None
    since: Instant | None = None

    @model_validator(mode="after")
    def _one_start(self) -> ReplayIn:
        if (self.after is None) == (self.since is None):
            raise ValueError("give exactly one of 'after' (a position) or 'since' (a time)")
        return self


class Subscription(_Doc):
    id: str
    url: str
    types: list[str]
    actors: list[str]
    description: str | None
    status: Literal["active", "paused", "disabled"]
    created_at: str
    start_position: int
    disabled_reason: str | None


class NewSubscription(Subscription):
    secret: str


class SubscriptionList(_Doc):
    items: list[Subscription]


class Secret(_Doc):
    secret: str
    previous_secret_valid_until: str


class Attempt(_Doc):
    at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class Delivery(_Doc):
    message_id: str
    position: int
    event_id: str
    type: str
    fact_type: str
    status: DeliveryStatus
    next_attempt_at: str | None
    attempts: list[Attempt]


class DeliveryPage(_Doc):
    items: list[Delivery]
    next_cursor: str | None


class Replayed(_Doc):
    after: int
    messages: int


# --- problems ---------------------------------------------------------------------------


class ProblemDoc(_Doc):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


PROBLEM = {"model": ProblemDoc, "content": {"application/problem+json": {}}}
# What any read may answer besides its page: a bad parameter, or the read models unreachable.
READ_PROBLEMS = (422, 503)


def answers(model: type[BaseModel] | None, *problems: int, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's documented answers: its model under `status`, then a problem per code, in order."""
    documented: dict[int | str, dict[str, Any]] = {status: {"model": model}} if model else {}
    documented.update(dict.fromkeys(problems, PROBLEM))
    return documented


# The validators and cache rules of every read (service.api.conditional; docs/api.md "Caching").
CACHE_HEADERS = {
    "ETag": {
        "description": "weak for a current answer (it changes with the read models), strong for a settled one",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": (
            "`no-cache` for a current answer (revalidate with If-None-Match); "
            "`public` (`private` when reads need a token) `, max-age=31536000, immutable` for a settled `as_of`"
        ),
        "schema": {"type": "string"},
    },
    "Vary": {"description": "`Authorization` when reads need a token", "schema": {"type": "string"}},
}
NOT_MODIFIED = {
    "description": "If-None-Match names the answer's current tag: no body, the same validators",
    "headers": CACHE_HEADERS,
}


def cached_answers(ok: dict[str, Any], *problems: int) -> dict[int | str, dict[str, Any]]:
    """A read's documented answers: ``ok`` (its 200) with the cache headers, a 304, then its problems."""
    documented: dict[int | str, dict[str, Any]] = {200: {**ok, "headers": CACHE_HEADERS}, 304: NOT_MODIFIED}
    documented.update(dict.fromkeys(problems, PROBLEM))
    return documented
