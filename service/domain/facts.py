"""The six fact types: their envelope, type fields, roles and validation.

Validation is pure: a raw JSON object goes in, a normalised *record* (a
plain, JSON-ready dict in one canonical form) comes out. The record is what
the store keeps and what idempotency compares.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from service.domain.countries import COUNTRY_CODES
from service.domain.instants import (
    INSTANT_PATTERN,
    InstantError,
    format_instant,
    is_date_only,
    parse_instant,
)
from service.domain.text import MAX_SLUG, LongText, Text, Url

MAX_FACT_BYTES = 64 * 1024
MAX_POSITION = 2**63 - 1  # positions are signed 64-bit integers in both stores
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"

FactType = Literal[
    "StrikeOccurred",
    "MissionSuspended",
    "MissionResumed",
    "PersonnelDeployed",
    "PersonnelRepositioned",
    "StatementIssued",
]
FACT_TYPES: tuple[FactType, ...] = get_args(FactType)

# Roles each type accepts; the first set must be named at least once.
ROLES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "StrikeOccurred": (frozenset({"perpetrator"}), frozenset({"target", "ordered_by"})),
    "MissionSuspended": (frozenset({"actor"}), frozenset({"host"})),
    "MissionResumed": (frozenset({"actor"}), frozenset({"host"})),
    "PersonnelDeployed": (frozenset({"actor"}), frozenset({"host"})),
    "PersonnelRepositioned": (frozenset({"actor"}), frozenset({"host", "announced_by"})),
    "StatementIssued": (frozenset({"speaker"}), frozenset({"on_behalf_of", "addressee", "subject"})),
}


class FactTooLargeError(ValueError):
    """A fact whose canonical JSON exceeds MAX_FACT_BYTES."""

    def __init__(self, size: int):
        super().__init__(f"the fact is {size} bytes of JSON; the limit is {MAX_FACT_BYTES}")
        self.size = size


def _instant(value: object) -> datetime:
    try:
        return parse_instant(value)
    except InstantError as exc:
        raise ValueError(str(exc)) from None


def _country(value: str) -> str:
    code = value.upper()
    if code not in COUNTRY_CODES:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return code


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": INSTANT_PATTERN,
            "description": "ISO 8601 date (2020-01-07) or date-time with offset (2020-01-07T15:00:00Z)",
            "examples": ["2020-01-07", "2020-01-07T15:00:00Z"],
        }
    ),
]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, min_length=1, max_length=MAX_SLUG)]
Count = Annotated[int, Strict(), Field(ge=0, le=100_000_000)]
Flag = Annotated[bool, Strict()]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Country = Annotated[str, StringConstraints(min_length=2, max_length=2), AfterValidator(_country)]

Precision = Literal["exact", "minute", "hour", "day", "week", "month", "year"]
Confidence = Literal["confirmed", "reported", "claimed", "disputed"]
Means = Literal["drone", "air", "missile", "artillery", "other", "unknown"]
Channel = Literal["statement", "letter", "press_conference", "social_media", "interview", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Strict):
    id: Slug | None = None
    name: Text
    country: Country
    lat: Latitude | None = None
    lon: Longitude | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


class Source(_Strict):
    url: Url
    publisher: Text | None = None
    published_at: Instant | None = None
    quote: LongText | None = None


class ActorRef(_Strict):
    id: Slug
    role: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class _Fact(_Strict):
    event_id: UUID | None = None
    occurred_at: Instant
    occurred_until: Instant | None = None
    precision: Precision = "exact"
    reported_at: Instant | None = None
    summary: Text
    actors: Annotated[list[ActorRef], Field(min_length=1, max_length=100)]
    location: Location | None = None
    sources: Annotated[list[Source], Field(max_length=50)] = []
    confidence: Confidence = "reported"
    refers_to: Annotated[list[UUID], Field(max_length=100)] = []

    @model_validator(mode="before")
    @classmethod
    def _date_only_means_day(cls, data: Any) -> Any:
        # A date-only occurred_at states the day, not a moment in it.
        if isinstance(data, dict) and data.get("precision") is None:
            occurred = data.get("occurred_at")
            if isinstance(occurred, str) and is_date_only(occurred):
                data = {**data, "precision": "day"}
            elif "precision" in data:
                data = {k: v for k, v in data.items() if k != "precision"}
        return data

    @field_validator("occurred_until")
    @classmethod
    def _until_after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("occurred_at")
        if value is not None and start is not None and value < start:
            raise ValueError("occurred_until is before occurred_at")
        return value

    @field_validator("actors")
    @classmethod
    def _roles_fit_the_type(cls, refs: list[ActorRef]) -> list[ActorRef]:
        kind = cls.__name__  # validators run on the concrete fact type
        required, optional = ROLES[kind]
        allowed = required | optional
        seen: set[tuple[str, str]] = set()
        for ref in refs:
            if ref.role not in allowed:
                raise ValueError(f"role '{ref.role}' is not one of {kind}'s roles: {', '.join(sorted(allowed))}")
            if (ref.id, ref.role) in seen:
                raise ValueError(f"actor '{ref.id}' is named twice with role '{ref.role}'")
            seen.add((ref.id, ref.role))
        missing = required - {ref.role for ref in refs}
        if missing:
            raise ValueError(f"{kind} needs an actor with role {' or '.join(sorted(missing))}")
        return refs

    @field_validator("refers_to")
    @classmethod
    def _refers_once(cls, refs: list[UUID]) -> list[UUID]:
        if len(set(refs)) != len(refs):
            raise ValueError("refers_to names the same fact twice")
        return refs

    def to_record(self) -> dict[str, Any]:
        """The canonical, JSON-ready form of this fact (``event_id`` must be set)."""
        reported_at = self.reported_at
        if reported_at is None:
            published = [s.published_at for s in self.sources if s.published_at is not None]
            reported_at = min(published) if published else None
        record: dict[str, Any] = {
            "event_id": str(self.event_id) if self.event_id else None,
            "type": self.type,  # type: ignore[attr-defined]
            "occurred_at": format_instant(self.occurred_at),
            "occurred_until": _fmt(self.occurred_until),
            "precision": self.precision,
            "reported_at": _fmt(reported_at),
            "summary": self.summary,
            "actors": [{"id": a.id, "role": a.role} for a in self.actors],
            "location": _location(self.location),
            "sources": [_source(s) for s in self.sources],
            "confidence": self.confidence,
            "refers_to": [str(r) for r in self.refers_to],
        }
        for attr, key in type(self).type_fields():
            record[key] = _plain(getattr(self, attr))
        return record

    @classmethod
    @cache
    def type_fields(cls) -> list[tuple[str, str]]:
        """(attribute, JSON name) of the fields this type adds to the envelope."""
        own = cls.model_fields.keys() - _Fact.model_fields.keys() - {"type"}
        return [(n, cls.model_fields[n].alias or n) for n in cls.model_fields if n in own]


def _fmt(moment: datetime | None) -> str | None:
    return None if moment is None else format_instant(moment)


def _location(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return location.model_dump(exclude_none=True)


def _source(source: Source) -> dict[str, Any]:
    data = source.model_dump(exclude_none=True)
    if source.published_at is not None:
        data["published_at"] = format_instant(source.published_at)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, Location):
        return _location(value)
    return value


class StrikeOccurred(_Fact):
    type: Literal["StrikeOccurred"]
    means: Means = "unknown"
    fatalities: Count | None = None
    target_description: Text | None = None


class MissionSuspended(_Fact):
    type: Literal["MissionSuspended"]
    mission: Slug
    mission_name: Text | None = None
    personnel: Count | None = None
    reason: LongText | None = None
    temporary: Flag | None = None


class MissionResumed(_Fact):
    type: Literal["MissionResumed"]
    mission: Slug


class PersonnelDeployed(_Fact):
    type: Literal["PersonnelDeployed"]
    personnel: Count
    location: Location  # required here, unlike the envelope's
    mission: Slug | None = None


class PersonnelRepositioned(_Fact):
    type: Literal["PersonnelRepositioned"]
    personnel: Count | None = None
    from_: Location | None = Field(default=None, alias="from")
    to: Location | None = Field(default=None, validate_default=True)
    temporary: Flag | None = None
    mission: Slug | None = None

    @field_validator("to")
    @classmethod
    def _needs_an_end(cls, value: Location | None, info: ValidationInfo) -> Location | None:
        if value is None and info.data.get("from_") is None and "from_" in info.data:
            raise ValueError("PersonnelRepositioned needs 'from', 'to' or both")
        return value


class StatementIssued(_Fact):
    type: Literal["StatementIssued"]
    text: LongText
    channel: Channel = "statement"


FactIn = Annotated[
    StrikeOccurred | MissionSuspended | MissionResumed | PersonnelDeployed | PersonnelRepositioned | StatementIssued,
    Field(discriminator="type"),
]
FACT_MODELS: tuple[type[_Fact], ...] = get_args(get_args(FactIn)[0])
FACT_ADAPTER: TypeAdapter[_Fact] = TypeAdapter(FactIn)


def validate_fact(raw: Any) -> _Fact:
    """Validate one raw fact (a parsed JSON object); raises pydantic's ValidationError."""
    fact: _Fact = FACT_ADAPTER.validate_python(raw)
    return fact


def record_size(record: dict[str, Any]) -> int:
    return len(orjson.dumps(record))


def check_size(record: dict[str, Any]) -> None:
    size = record_size(record)
    if size > MAX_FACT_BYTES:
        raise FactTooLargeError(size)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def stored_view(
    record: dict[str, Any], *, recorded_at: str, position: int, revision: int, status: str
) -> dict[str, Any]:
    """A fact as the API shows it: the record plus what the store assigned.

    ``reported_at`` left open by the client falls back to ``recorded_at``.
    """
    view: dict[str, Any] = {}
    for key, value in record.items():
        view[key] = value
        if key == "reported_at":
            view["reported_at"] = value or recorded_at
            view["recorded_at"] = recorded_at
            view["position"] = position
            view["revision"] = revision
            view["status"] = status
    return view
