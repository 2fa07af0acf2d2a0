"""Corrections and retractions of the record: their input and their validation.

A correction is checked by validating the whole fact as it would stand after
it, so every rule of a fact (roles, dates, sizes) holds for every revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.domain.facts import Instant, Source, check_size, validate_fact
from service.domain.instants import format_instant
from service.domain.revisions import FIXED_FIELDS
from service.domain.text import MAX_REASON, LongText

Reason = Annotated[LongText, Field(max_length=MAX_REASON)]


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: Annotated[dict[str, Any], Field(max_length=50)] = {}
    reason: Reason
    reported_at: Instant | None = None
    sources: Annotated[list[Source], Field(max_length=50)] = []


class RetractionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    reported_at: Instant | None = None


class CorrectionError(ValueError):
    """A correction that cannot apply; ``errors`` name the fields."""

    def __init__(self, detail: str, errors: list[dict[str, str]]):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


@dataclass(frozen=True)
class PlannedCorrection:
    changes: dict[str, Any]
    added_sources: list[dict[str, Any]]
    reason: str
    reported_at: str | None
    record: dict[str, Any]  # the fact as it will stand


def _sources(sources: list[Source]) -> list[dict[str, Any]]:
    out = []
    for source in sources:
        data = source.model_dump(exclude_none=True)
        if source.published_at is not None:
            data["published_at"] = format_instant(source.published_at)
        out.append(data)
    return out


def change_reported_at(explicit: Any, sources: list[Source]) -> str | None:
    """A change's publication time: given, else its earliest source, else (None) its recording."""
    if explicit is not None:
        return format_instant(explicit)
    published = [s.published_at for s in sources if s.published_at is not None]
    return format_instant(min(published)) if published else None


def plan_correction(record: dict[str, Any], correction: CorrectionIn) -> PlannedCorrection:
    fixed = sorted(set(correction.changes) & FIXED_FIELDS)
    if fixed:
        raise CorrectionError(
            f"a correction cannot change {', '.join(fixed)}",
            [{"field": f"changes.{name}", "message": "cannot be corrected"} for name in fixed],
        )
    unknown = sorted(set(correction.changes) - set(record))
    if unknown:
        raise CorrectionError(
            f"{record['type']} has no field {', '.join(unknown)}",
            [{"field": f"changes.{name}", "message": "not a field of this fact"} for name in unknown],
        )
    candidate = {**record, **correction.changes}
    try:
        fact = validate_fact(candidate)
    except ValidationError as exc:
        errors = [
            {
                "field": "changes." + ".".join(str(p) for p in e["loc"][1:]) if len(e["loc"]) > 1 else "changes",
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        raise CorrectionError("the fact would not be valid after this correction", errors) from None
    updated = fact.to_record()
    if "reported_at" not in correction.changes:
        # The fact's own publication time stays what it was; new sources do not move it.
        updated["reported_at"] = record["reported_at"]
    changes = {k: v for k, v in updated.items() if k != "sources" and v != record[k]}
    if "sources" in correction.changes and updated["sources"] != record["sources"]:
        changes["sources"] = updated["sources"]
    known_urls = {s["url"] for s in updated["sources"]}
    added = [s for s in _sources(correction.sources) if s["url"] not in known_urls]
    if not changes and not added:
        raise CorrectionError("the correction changes nothing", [{"field": "changes", "message": "no field differs"}])
    final = {**updated, "sources": [*updated["sources"], *added]}
    check_size(final)
    return PlannedCorrection(
        changes=changes,
        added_sources=added,
        reason=correction.reason,
        reported_at=change_reported_at(correction.reported_at, correction.sources),
        record=final,
    )
