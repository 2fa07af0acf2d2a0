"""The write side: records facts and actor profiles in the event store.

Recording a fact creates a new aggregate and never loads history, so an append
costs the same however large the store grows. A batch is one transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

from service.domain.aggregates import Actor, Fact, actor_aggregate_id
from service.domain.corrections import (
    CorrectionError,
    CorrectionIn,
    RetractionIn,
)
from service.domain.errors import (
    FactConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from service.domain.facts import FactTooLargeError, check_size, stored_view
from service.domain.instants import Clock, format_instant
from service.domain.revisions import STATUS_ACTIVE
from service.store.transcoder import OrjsonTranscoder


@runtime_checkable
class PositionLookup(Protocol):
    """The recorders of service.store.sqlite and service.store.postgres: where one event was stored."""

    def position_of(self, originator_id: UUID, version: int) -> int: ...


@dataclass(frozen=True)
class Recorded:
    """The outcome of recording one fact: its stored view, and whether it is new."""

    fact: dict[str, Any]
    created: bool


def _correct(fact: Fact, correction: CorrectionIn, stamp: datetime) -> None:
    try:
        fact.correct(correction, stamp)
    except CorrectionError as exc:
        raise InvalidInputError(exc.detail, errors=exc.errors) from None
    except FactTooLargeError as exc:
        raise PayloadTooLargeError(str(exc)) from None


class TimelineApplication(Application[UUID]):
    # The library derives the PostgreSQL table name from this ("stored_events",
    # as on SQLite) and reads STORED_-prefixed variables before plain ones.
    name = "Stored"

    def __init__(self, env: dict[str, str], *, clock: Clock):
        super().__init__(env)
        self._clock = clock
        self._clock_lock = threading.Lock()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self.recorded_listeners: list[Callable[[int], None]] = []
        # Called with (events committed, seconds) after every successful save.
        self.save_observers: list[Callable[[int, float], None]] = []

    def construct_transcoder(self) -> Transcoder:
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        recordings = super().save(*objs, **kwargs)
        self._observe(len(recordings), started)
        return recordings

    def put_events(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Store new events in one transaction, without aggregate objects.

        ``save()`` checks each object against the library's runtime protocols,
        which costs more per event than the insert itself in large batches.
        """
        started = time.perf_counter()
        recordings = self.events.put(events)
        self._observe(len(recordings), started)
        return recordings

    def _observe(self, count: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        for observe in self.save_observers:
            observe(count, elapsed)

    # --- commands -----------------------------------------------------------------

    def record_facts(self, facts: Sequence[Any]) -> list[Recorded]:
        """Record validated facts all or nothing; repeats of stored facts are no-ops.

        A fact whose ``event_id`` is already stored with the same normalised body
        comes back with ``created=False``; with a different body the whole call
        fails with FactConflictError naming its index.
        """
        records = [self._prepare(index, fact) for index, fact in enumerate(facts)]
        first_index: dict[str, int] = {}
        for index, record in enumerate(records):
            earlier = first_index.setdefault(record["event_id"], index)
            if earlier != index and records[earlier] != record:
                raise FactConflictError(
                    f"facts {earlier} and {index} share event_id {record['event_id']} with different bodies",
                    errors=[{"field": f"events.{index}.event_id", "message": "duplicate event_id"}],
                )
        results: dict[str, Recorded] = {}
        pending = {r["event_id"]: (first_index[r["event_id"]], r) for r in records}
        while pending:
            stamp = self._stamp()
            events = [Fact.recorded_event(record, stamp) for _, record in pending.values()]
            try:
                recordings = self.put_events(events)
            except IntegrityError:
                # Some ids are stored already: settle those, then retry the rest.
                stored_any = False
                for event_id, (index, record) in list(pending.items()):
                    existing = self._existing(event_id, record, index)
                    if existing is not None:
                        results[event_id] = existing
                        del pending[event_id]
                        stored_any = True
                if not stored_any:
                    raise
                continue
            positions = {r.domain_event.originator_id: r.notification.id for r in recordings}
            recorded_at = format_instant(stamp)
            for event_id, (_, record) in pending.items():
                results[event_id] = Recorded(
                    stored_view(
                        record,
                        recorded_at=recorded_at,
                        position=positions[UUID(event_id)],
                        revision=1,
                        status=STATUS_ACTIVE,
                    ),
                    created=True,
                )
            self._announce(max(positions.values()))
            pending = {}
        return [results[record["event_id"]] for record in records]

    def correct_fact(self, event_id: str, correction: CorrectionIn) -> Recorded:
        """Record a correction of the record; the fact's earlier revisions stay readable."""
        return self._change(event_id, lambda fact, stamp: _correct(fact, correction, stamp))

    def retract_fact(self, event_id: str, retraction: RetractionIn) -> Recorded:
        """Withdraw a fact from later answers; it stays in the log and readable by id."""
        return self._change(event_id, lambda fact, stamp: fact.retract(retraction, stamp))

    def _change(self, event_id: str, change: Callable[[Fact, datetime], None]) -> Recorded:
        for _ in range(5):
            try:
                fact: Fact = self.repository.get(UUID(event_id))
            except AggregateNotFoundError:
                raise NotFoundError(f"no fact {event_id}") from None
            stamp = self._stamp(floor=fact.modified_on)
            change(fact, stamp)
            try:
                recordings = self.save(fact)
            except IntegrityError:
                if not self._saved_already(fact):
                    continue  # another change got in first: apply ours to the new state
                position = self.position_of(event_id, fact.version)
            else:
                position = recordings[-1].notification.id
            self._announce(position)
            view = stored_view(
                fact.record,
                recorded_at=format_instant(fact.created_on),
                position=self.first_position(event_id),
                revision=fact.version,
                status=fact.status,
            )
            return Recorded({**view, "change_position": position}, created=True)
        raise FactConflictError(f"fact {event_id} is being changed concurrently; retry")

    def register_actor(self, profile: dict[str, Any]) -> int | None:
        """Create or change an actor's profile; returns the change's position.

        An unchanged profile records nothing and returns None.
        """
        for _ in range(3):
            try:
                actor: Actor = self.repository.get(actor_aggregate_id(profile["id"]))
            except AggregateNotFoundError:
                actor = Actor.register(profile, self._stamp())
            else:
                if actor.profile == profile:
                    return None
                actor.change_profile(profile, self._stamp(floor=actor.modified_on))
            try:
                recordings = self.save(actor)
            except IntegrityError:
                continue  # a concurrent writer got there first: read it and try again
            position = int(max(r.notification.id for r in recordings))
            self._announce(position)
            return position
        raise FactConflictError(f"actor '{profile['id']}' is being changed concurrently; retry")

    def register_missing_actors(self, profiles: Sequence[dict[str, Any]]) -> int:
        """Register the profiles of actors that have none yet, in one transaction; returns how many.

        A profile already registered (by a user, or a concurrent import) is kept as it is.
        """
        new = []
        for profile in profiles:
            try:
                self.repository.get(actor_aggregate_id(profile["id"]))
            except AggregateNotFoundError:
                new.append(Actor.register(profile, self._stamp()))
        if not new:
            return 0
        try:
            recordings = self.save(*new)
        except IntegrityError:
            # Another writer registered one of them meanwhile: settle them one at a time.
            return sum(self.register_missing_actors([actor.profile]) for actor in new)
        self._announce(max(r.notification.id for r in recordings))
        return len(new)

    # --- queries on the store itself ----------------------------------------------

    def stored_fact(self, event_id: str) -> dict[str, Any] | None:
        try:
            fact: Fact = self.repository.get(UUID(event_id))
        except AggregateNotFoundError:
            return None
        return stored_view(
            fact.record,
            recorded_at=format_instant(fact.created_on),
            position=self.first_position(event_id),
            revision=fact.version,
            status=fact.status,
        )

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # --- internals ------------------------------------------------------------------

    def _prepare(self, index: int, fact: Any) -> dict[str, Any]:
        record: dict[str, Any] = fact.to_record()
        if record["event_id"] is None:
            record["event_id"] = str(uuid4())
        try:
            check_size(record)
        except FactTooLargeError as exc:
            raise PayloadTooLargeError(
                f"fact {index}: {exc}",
                errors=[{"field": f"events.{index}", "message": str(exc)}],
            ) from None
        return record

    def _existing(self, event_id: str, record: dict[str, Any], index: int) -> Recorded | None:
        try:
            original: Fact = self.repository.get(UUID(event_id), version=1)
        except AggregateNotFoundError:
            return None
        if original.record != record:
            raise FactConflictError(
                f"event_id {event_id} is already recorded with a different body",
                errors=[{"field": f"events.{index}.event_id", "message": "already recorded with a different body"}],
            )
        current = self.stored_fact(event_id)
        assert current is not None
        return Recorded(current, created=False)

    def _saved_already(self, fact: Fact) -> bool:
        """Whether the fact's pending change is in the store already.

        The library retries an insert whose connection failed; when the first try had
        committed, the retry meets the unique key. Our own stamp (unique in this process)
        and the same outcome say that the change is ours, not a concurrent one.
        """
        stored: Fact = self.repository.get(fact.id, version=fact.version)
        return (stored.modified_on, stored.record, stored.status) == (fact.modified_on, fact.record, fact.status)

    def first_position(self, event_id: str) -> int:
        """The position at which the fact was first recorded."""
        return self.position_of(event_id, 1)

    def position_of(self, event_id: str, version: int) -> int:
        """The position of one event of a fact."""
        recorder = self.recorder
        if not isinstance(recorder, PositionLookup):
            raise TypeError(f"{type(recorder).__name__} cannot look up positions: use service.store's recorders")
        return recorder.position_of(UUID(event_id), version)

    def _stamp(self, floor: datetime | None = None) -> datetime:
        """Transaction time: never earlier than the last stamp, even if the clock steps back."""
        with self._clock_lock:
            stamp = self._clock()
            lowest = self._last_stamp if floor is None else max(self._last_stamp, floor)
            if stamp <= lowest:
                stamp = lowest + timedelta(microseconds=1)
            self._last_stamp = stamp
            return stamp

    def _announce(self, position: int) -> None:
        for listener in self.recorded_listeners:
            listener(position)
