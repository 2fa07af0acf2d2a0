"""Random histories for the tallies' tests, and what the tallies hold."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import select

from service.bootstrap import Container
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.errors import TimelineError
from service.domain.facts import validate_fact
from service.readmodels.tables import actor_totals, day_count_changes, day_count_checkpoints, day_counts

# Day edges, offsets that move a fact to the next UTC day or month, and days before 1970.
OCCURRED = [
    "1900-03-01T06:00:00Z",
    "1969-12-31T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:00:00Z",
    "1970-01-01T12:00:00Z",
    "2020-01-01",
    "2020-01-01T23:59:59Z",
    "2020-01-02T00:00:00Z",
    "2020-01-05T10:30:00+03:30",
    "2020-01-31T22:00:00-05:00",
]
REPORTED = ["2020-03-01", "2020-03-02", "2020-03-03"]
KINDS = ["StrikeOccurred", "StatementIssued", "PersonnelDeployed"]
_clock_ticks = itertools.count()


def fake_clock() -> datetime:
    # Transaction time moves one second per recording, so as_of values fall between changes.
    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock_ticks))


def fact_body(kind: str, first: str, second: str, occurred: str, reported: str, fatalities: int) -> dict[str, Any]:
    base = {"type": kind, "occurred_at": occurred, "reported_at": reported, "summary": f"{kind} by {first}"}
    if kind == "StrikeOccurred":
        roles = [{"id": first, "role": "perpetrator"}, {"id": second, "role": "target"}]
        return {**base, "actors": roles, "fatalities": fatalities}
    if kind == "PersonnelDeployed":
        place = {"name": "Iraq", "country": "IQ"}
        return {**base, "actors": [{"id": first, "role": "actor"}], "personnel": 10, "location": place}
    return {**base, "actors": [{"id": first, "role": "speaker"}, {"id": second, "role": "subject"}], "text": "t"}


new_fact = st.tuples(
    st.just("fact"),
    st.sampled_from(KINDS),
    st.integers(0, 2),
    st.integers(0, 2),  # may name the same actor twice, in two roles
    st.sampled_from(OCCURRED),
    st.sampled_from(REPORTED),
    st.integers(0, 50),
)
correction = st.tuples(
    st.just("correct"),
    st.integers(0, 20),
    st.sampled_from(["occurred_at", "actors", "fatalities"]),
    st.sampled_from(OCCURRED),
    st.integers(0, 2),
    st.integers(0, 50),
    st.sampled_from(REPORTED),
)
retraction = st.tuples(st.just("retract"), st.integers(0, 20), st.sampled_from(REPORTED))
# After each step, whether the read models catch up: changes then find their fact's rows stored.
steps = st.tuples(st.one_of(new_fact, new_fact, correction, retraction), st.booleans())
histories = st.lists(steps, min_size=1, max_size=14)


def play(container: Container, history: list[tuple], actors: list[str]) -> None:
    recorded: list[str] = []
    for step, catch_up in history:
        _step(container, step, actors, recorded)
        if catch_up:
            container.read_models.catch_up()
    container.read_models.catch_up()


def _step(container: Container, step: tuple, actors: list[str], recorded: list[str]) -> None:
    if step[0] == "fact":
        _, kind, a, b, occurred, reported, fatalities = step
        body = fact_body(kind, actors[a], actors[b], occurred, reported, fatalities)
        (outcome,) = container.store.record_facts([validate_fact(body)])
        recorded.append(outcome.fact["event_id"])
        return
    if not recorded:
        return
    event_id = recorded[step[1] % len(recorded)]
    current = container.store.stored_fact(event_id)
    assert current is not None
    if current["status"] == "retracted":
        return
    if step[0] == "retract":
        container.store.retract_fact(event_id, RetractionIn(reason="duplicate", reported_at=step[2]))
        return
    _, _, what, occurred, who, fatalities, reported = step
    changes: dict[str, Any] = {}
    if what == "occurred_at":
        changes["occurred_at"] = occurred
    elif what == "actors":
        changes["actors"] = [{**ref, "id": actors[who]} if i == 0 else ref for i, ref in enumerate(current["actors"])]
    elif "fatalities" in current:
        changes["fatalities"] = fatalities
    try:
        container.store.correct_fact(event_id, CorrectionIn(changes=changes, reason="corrected", reported_at=reported))
    except TimelineError:
        pass  # a correction that changes nothing is refused, and records nothing


def held(container: Container, *, checkpoints: bool = False) -> dict[str, set[tuple]]:
    """The rows of the tallies that count something (a count that fell to zero may stay);
    with ``checkpoints``, those too (they fall where batches end, which differs between runs)."""
    with container.engine.connect() as conn:
        days = conn.execute(select(day_counts).where(day_counts.c.facts != 0)).all()
        changes = conn.execute(select(day_count_changes)).all()
        totals = conn.execute(select(actor_totals).where(actor_totals.c.facts != 0)).all()
        taken = conn.execute(select(day_count_checkpoints)).all() if checkpoints else []
    found = {
        "day_counts": {tuple(r) for r in days},
        "day_count_changes": {tuple(r) for r in changes if r.facts or r.fatalities},
        "actor_totals": {tuple(r) for r in totals},
    }
    return found | ({"day_count_checkpoints": {tuple(r) for r in taken}} if checkpoints else {})
