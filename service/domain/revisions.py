"""A fact's history of changes, and what was known of it on two time axes.

Pure. A fact is known by the changes recorded (transaction time) and reported
(publication time) by then: a query "as of A, reported by R" sees the changes
with ``recorded <= A`` and ``reported <= R`` — the fact itself among them, or
nothing at all — applied in revision order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

# What a revision did to its fact.
RevisionKind = Literal["recorded", "corrected", "retracted"]
KIND_RECORDED: Final = "recorded"
KIND_CORRECTED: Final = "corrected"
KIND_RETRACTED: Final = "retracted"
REVISION_KINDS: tuple[RevisionKind, ...] = get_args(RevisionKind)

# A fact's status: a retracted fact stays readable by id but leaves every list, count and state.
FactStatus = Literal["active", "retracted"]
STATUS_ACTIVE: Final = "active"
STATUS_RETRACTED: Final = "retracted"
FACT_STATUSES: tuple[FactStatus, ...] = get_args(FactStatus)

# Fields a correction may not touch: the fact's identity and what the store assigns.
FIXED_FIELDS = frozenset({"event_id", "type", "recorded_at", "position", "revision", "status"})


@dataclass(frozen=True)
class Change:
    """One revision: the fact recorded (with its record), corrected, or retracted."""

    revision: int
    kind: RevisionKind
    recorded_us: int
    reported_us: int
    record: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    added_sources: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Known:
    """The fact as known from a set of its changes."""

    record: dict[str, Any]
    status: FactStatus
    revision: int


@dataclass(frozen=True)
class Version:
    """What was known of a fact for publication times in [reported_from, reported_until)."""

    reported_from_us: int
    reported_until_us: int | None
    known: Known


def apply_changes(
    record: dict[str, Any], changes: dict[str, Any], added_sources: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A correction applied to a record: changed fields replaced, new sources appended."""
    updated = {**record, **changes}
    if added_sources:
        updated["sources"] = [*updated["sources"], *added_sources]
    return updated


def fold(changes: Sequence[Change]) -> Known:
    """The fact after the given changes, in revision order; the first must be its recording."""
    first = changes[0]
    assert first.kind == KIND_RECORDED and first.record is not None
    record: dict[str, Any] = first.record
    status: FactStatus = STATUS_ACTIVE
    for change in changes[1:]:
        if change.kind == KIND_CORRECTED:
            record = apply_changes(record, change.changes, change.added_sources)
        elif change.kind == KIND_RETRACTED:
            status = STATUS_RETRACTED
    return Known(record, status, changes[-1].revision)


def versions(changes: Sequence[Change]) -> list[Version]:
    """Every distinct state of the fact over publication time, given all these changes recorded.

    Before the fact's own ``reported`` time nothing is known of it; a change
    reported earlier than the fact shows from the fact's time on.
    """
    first = changes[0].reported_us
    thresholds = sorted({first} | {c.reported_us for c in changes[1:] if c.reported_us > first})
    out = []
    for index, threshold in enumerate(thresholds):
        until = thresholds[index + 1] if index + 1 < len(thresholds) else None
        visible = [c for c in changes if c.reported_us <= threshold]
        out.append(Version(threshold, until, fold(visible)))
    return out


def known_at(changes: Sequence[Change], as_of_us: int | None, reported_by_us: int | None) -> Known | None:
    """The fact as known under the two axes (None = no bound), or None if not yet known."""
    visible = [
        c
        for c in changes
        if (as_of_us is None or c.recorded_us <= as_of_us)
        and (reported_by_us is None or c.reported_us <= reported_by_us)
    ]
    if not visible or visible[0].kind != KIND_RECORDED:
        return None
    return fold(visible)
