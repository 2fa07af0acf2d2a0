"""Property: the read models answer exactly what a naive fold over the whole log says.

For random histories of facts, corrections (moving dates, counts and actors)
and retractions, recorded and published in any order, the state of every actor
from the read models equals the fold of the facts that a plain scan of the log
finds visible under the same ``at``, ``as_of`` and ``reported_by``.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.problems import answer_for
from service.bootstrap import Container
from service.domain.aggregates import Fact
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.errors import TimelineError
from service.domain.facts import validate_fact
from service.domain.instants import parse_instant, text_to_micros, to_micros
from service.domain.replay import fold_state
from service.readmodels import queries
from tests.support.histories import DAYS, KINDS, fact_body

_examples = itertools.count()
_clock_ticks = itertools.count()


def fake_clock() -> datetime:
    # Transaction time moves one second per recording, so as_of values fall between changes.
    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock_ticks))


new_fact = st.tuples(
    st.just("fact"),
    st.sampled_from(KINDS),
    st.integers(0, 2),
    st.integers(0, 2),
    st.sampled_from(DAYS),
    st.sampled_from(DAYS),
    st.one_of(st.none(), st.integers(0, 900)),
    st.integers(0, 2),
)
correction = st.tuples(
    st.just("correct"),
    st.integers(0, 20),
    st.sampled_from(["occurred_at", "actor", "reported_at", "count"]),
    st.sampled_from(DAYS),
    st.integers(0, 2),
    st.integers(0, 900),
)
retraction = st.tuples(st.just("retract"), st.integers(0, 20), st.sampled_from(DAYS))
histories = st.lists(st.one_of(new_fact, new_fact, correction, retraction), min_size=1, max_size=12)


def play(container: Container, history: list[tuple], actors: list[str]) -> None:
    recorded: list[dict[str, Any]] = []
    for step in history:
        if step[0] == "fact":
            _, kind, a, b, day, reported, count, place = step
            body = fact_body(kind, actors[a], actors[(a + b + 1) % 3], day, reported, count, place)
            (outcome,) = container.store.record_facts([validate_fact(body)])
            recorded.append(outcome.fact)
            continue
        if not recorded:
            continue
        fact = recorded[step[1] % len(recorded)]
        current = container.store.stored_fact(fact["event_id"])
        assert current is not None
        if current["status"] == "retracted":
            continue
        if step[0] == "retract":
            container.store.retract_fact(fact["event_id"], RetractionIn(reason="duplicate", reported_at=step[2]))
            continue
        _, _, what, day, who, count = step
        changes: dict[str, Any] = {}
        if what == "occurred_at":
            changes["occurred_at"] = day
        elif what == "actor":
            changes["actors"] = [
                {**ref, "id": actors[who]} if i == 0 else ref for i, ref in enumerate(current["actors"])
            ]
        elif what == "reported_at":
            changes["reported_at"] = day
        elif "personnel" in current:
            changes["personnel"] = count
        try:
            container.store.correct_fact(
                fact["event_id"], CorrectionIn(changes=changes, reason="corrected", reported_at=day)
            )
        except TimelineError as exc:  # a correction that changes nothing or breaks a rule is refused
            assert answer_for(exc).status == 422, exc


def naive_states(container: Container, actors: list[str], at_us: int, as_of: int | None, reported_by: int | None):
    """Scan the whole log, keep what was recorded and reported by then, fold it plainly."""
    facts: dict[str, dict[str, Any]] = {}
    order: dict[str, int] = {}
    for notification in container.store.recorder.select_notifications(start=1, limit=1_000_000):
        event = container.store.mapper.to_domain_event(notification)
        if not isinstance(event, Fact.Event):
            continue
        key = str(event.originator_id)
        recorded_us = to_micros(event.timestamp)
        if as_of is not None and recorded_us > as_of:
            continue
        if isinstance(event, Fact.Created):
            reported = event.record["reported_at"]
            if reported_by is not None and (text_to_micros(reported) if reported else recorded_us) > reported_by:
                continue
            facts[key] = {"record": dict(event.record), "status": "active"}
            order[key] = notification.id
            continue
        if (
            reported_by is not None
            and (text_to_micros(event.reported_at) if event.reported_at else recorded_us) > reported_by
        ):
            continue
        if key not in facts:
            continue  # a change to a fact not yet known then
        if isinstance(event, Fact.Retracted):
            facts[key]["status"] = "retracted"
        else:
            record = {**facts[key]["record"], **event.changes}
            record["sources"] = [*record["sources"], *event.added_sources]
            facts[key]["record"] = record
    visible = sorted(
        (
            (text_to_micros(f["record"]["occurred_at"]), order[k], f["record"])
            for k, f in facts.items()
            if f["status"] == "active" and text_to_micros(f["record"]["occurred_at"]) <= at_us
        ),
        key=lambda t: (t[0], t[1]),
    )
    return {a: fold_state([r for _, _, r in visible], a) for a in actors}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories,
    probes=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 40), st.integers(0, 9)), min_size=3, max_size=6),
)
def test_read_models_equal_a_naive_fold_of_the_log(container: Container, history, probes) -> None:  # noqa: ANN001
    example = next(_examples)
    actors = [f"x{example}-a", f"x{example}-b", f"x{example}-c"]
    container.store._clock = fake_clock  # noqa: SLF001 - deterministic transaction time
    start = container.store.max_position()
    play(container, history, actors)
    container.read_models.catch_up()
    with container.engine.connect() as conn:
        stamps = sorted(
            to_micros(container.store.mapper.to_domain_event(n).timestamp)
            for n in container.store.recorder.select_notifications(start=start + 1, limit=1000)
        )
        for day_index, as_of_index, reported_index in probes:
            at_us = to_micros(parse_instant(DAYS[day_index], date_only_at="end"))
            as_of = (
                None
                if not stamps or as_of_index >= len(stamps) * 2
                else (
                    stamps[as_of_index // 2] - (as_of_index % 2)  # on a change, or just before it
                )
            )
            reported_by = (
                None if reported_index >= 8 else to_micros(parse_instant(DAYS[reported_index], date_only_at="end"))
            )
            expected = naive_states(container, actors, at_us, as_of, reported_by)
            axes = queries.Axes(as_of_us=as_of, reported_by_us=reported_by)
            for actor in actors:
                got = queries.actor_state(conn, actor, axes, at_us)
                assert got == expected[actor], (actor, DAYS[day_index], as_of, reported_by)
            world = queries.world_state(conn, axes, at_us, actors)
            assert world == {a: s for a, s in expected.items() if s["event_count"]}
