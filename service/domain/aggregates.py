"""Event-sourced aggregates: one small aggregate per fact, one per registered actor.

Topics are stored in the log and are a data format: every event class names
its topic explicitly and starts at ``class_version = 1``. Changing a payload
means a new class version with an ``upcast_v1_v2`` method, never a rename.

Timestamps (the transaction time ``recorded_at``) are passed in by the
application, so nothing here reads the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from service.domain.corrections import CorrectionIn, RetractionIn, change_reported_at, plan_correction
from service.domain.errors import FactRetractedError
from service.domain.facts import FACT_TYPES
from service.domain.revisions import (
    KIND_CORRECTED,
    KIND_RETRACTED,
    STATUS_ACTIVE,
    STATUS_RETRACTED,
    FactStatus,
    RevisionKind,
    apply_changes,
)

ACTOR_NAMESPACE = uuid5(NAMESPACE_URL, "crisis-timeline:actor")


class Fact(Aggregate):
    """A reported fact. Its id is the fact's ``event_id``."""

    TOPIC = "Fact"

    class Event(Aggregate.Event):
        pass

    class Created(Event, Aggregate.Created):
        """Base of the six typed creation events; never stored itself."""

        TOPIC = "FactCreated"
        record: dict[str, Any]

    class StrikeOccurred(Created):
        TOPIC = "StrikeOccurred"
        class_version = 1

    class MissionSuspended(Created):
        TOPIC = "MissionSuspended"
        class_version = 1

    class MissionResumed(Created):
        TOPIC = "MissionResumed"
        class_version = 1

    class PersonnelDeployed(Created):
        TOPIC = "PersonnelDeployed"
        class_version = 1

    class PersonnelRepositioned(Created):
        TOPIC = "PersonnelRepositioned"
        class_version = 1

    class StatementIssued(Created):
        TOPIC = "StatementIssued"
        class_version = 1

    class Corrected(Event):
        """Changed fields (their new, normalised values) and sources the correction adds."""

        TOPIC = "EventCorrected"
        class_version = 1
        changes: dict[str, Any]
        added_sources: list[dict[str, Any]]
        reason: str
        reported_at: str | None

        def apply(self, aggregate: Fact) -> None:
            aggregate.record = apply_changes(aggregate.record, self.changes, self.added_sources)

    class Retracted(Event):
        TOPIC = "EventRetracted"
        class_version = 1
        reason: str
        reported_at: str | None

        def apply(self, aggregate: Fact) -> None:
            aggregate.status = STATUS_RETRACTED

    def __init__(self, record: dict[str, Any]):
        self.record = record
        self.status: FactStatus = STATUS_ACTIVE

    @classmethod
    def recorded_event(cls, record: dict[str, Any], recorded_at: datetime) -> Fact.Created:
        """The event that records a new fact.

        Storing a new fact needs only its first event: building the aggregate
        object first (as ``_create`` does) cost more than the commit in bulk imports.
        Loading the fact later mutates this same event into the aggregate.
        """
        # The library makes each event class a dataclass in its metaclass, which mypy does not
        # see: it knows the fields of Aggregate.Created, not the ``record`` declared here.
        return RECORDED_EVENTS[record["type"]](  # type: ignore[call-arg]
            originator_id=UUID(record["event_id"]),
            originator_version=cls.INITIAL_VERSION,
            originator_topic=get_topic(cls),
            timestamp=recorded_at,
            record=record,
        )

    def correct(self, correction: CorrectionIn, recorded_at: datetime) -> None:
        """Record a correction of the record.

        FactRetractedError if the fact is retracted; CorrectionError or FactTooLargeError
        if the fact as corrected would not be a valid one.
        """
        self._check_changeable()
        plan = plan_correction(self.record, correction)
        self.trigger_event(
            self.Corrected,
            changes=plan.changes,
            added_sources=plan.added_sources,
            reason=plan.reason,
            reported_at=plan.reported_at,
            timestamp=recorded_at,
        )

    def retract(self, retraction: RetractionIn, recorded_at: datetime) -> None:
        """Withdraw the fact; FactRetractedError if it is retracted already."""
        self._check_changeable()
        reported_at = change_reported_at(retraction.reported_at, [])
        self.trigger_event(self.Retracted, reason=retraction.reason, reported_at=reported_at, timestamp=recorded_at)

    def _check_changeable(self) -> None:
        if self.status == STATUS_RETRACTED:
            raise FactRetractedError(f"fact {self.id} is retracted; it cannot change any more")


RECORDED_EVENTS: dict[str, type[Fact.Created]] = {name: getattr(Fact, name) for name in FACT_TYPES}

# The revision kind each change of a fact records (its creation is always KIND_RECORDED).
CHANGE_KINDS: dict[type[Fact.Event], RevisionKind] = {Fact.Corrected: KIND_CORRECTED, Fact.Retracted: KIND_RETRACTED}


def actor_aggregate_id(slug: str) -> UUID:
    return uuid5(ACTOR_NAMESPACE, slug)


class Actor(Aggregate):
    """A registered actor profile; actors that facts merely name need none."""

    TOPIC = "Actor"

    class Event(Aggregate.Event):
        pass

    class Created(Event, Aggregate.Created):
        """Base of the creation event; never stored itself."""

        TOPIC = "ActorCreated"

    class Registered(Created):
        TOPIC = "ActorRegistered"
        class_version = 1
        profile: dict[str, Any]

    class ProfileChanged(Event):
        TOPIC = "ActorProfileChanged"
        class_version = 1
        profile: dict[str, Any]

        def apply(self, aggregate: Actor) -> None:
            aggregate.profile = self.profile

    def __init__(self, profile: dict[str, Any]):
        self.profile = profile

    @classmethod
    def register(cls, profile: dict[str, Any], recorded_at: datetime) -> Actor:
        return cls._create(
            cls.Registered,
            id=actor_aggregate_id(profile["id"]),
            profile=profile,
            timestamp=recorded_at,
        )

    def change_profile(self, profile: dict[str, Any], recorded_at: datetime) -> None:
        self.trigger_event(self.ProfileChanged, profile=profile, timestamp=recorded_at)
