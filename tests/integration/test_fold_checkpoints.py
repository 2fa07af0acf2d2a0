"""Property: an actor's state read from the fold checkpoints equals the fold of all its rows.

Blocks of two to four facts (fanout 2) so that random histories cross block boundaries, split
blocks and grow levels: late facts, corrections that move a fact's date or its publication,
retractions, catch-ups at random points (several projection batches) and a writer whose clock
runs behind the last one (as another process's may), read at random points of all three axes.
The reference is ``actor_state_by_rows``, the plain fold of every visible row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from service import migrate
from service.bootstrap import Container
from service.domain import summaries
from service.domain.corrections import CorrectionIn, RetractionIn
from service.domain.errors import TimelineError
from service.domain.facts import validate_fact
from service.domain.instants import parse_instant, to_micros
from service.readmodels import queries
from service.readmodels.tables import fold_blocks
from tests.support.histories import DAYS, KINDS, fact_body

_examples = itertools.count()

new_fact = st.tuples(
    st.just("fact"),
    st.sampled_from(KINDS),
    st.integers(0, 3),  # mostly the first actor: its blocks split
    st.sampled_from(DAYS),
    st.sampled_from(DAYS),
    st.one_of(st.none(), st.integers(0, 900)),
    st.integers(0, 2),
)
correction = st.tuples(
    st.just("correct"),
    st.integers(0, 40),
    st.sampled_from(["occurred_at", "reported_at", "count"]),
    st.sampled_from(DAYS),
    st.integers(0, 900),
)
retraction = st.tuples(st.just("retract"), st.integers(0, 40), st.sampled_from(DAYS))
catch_up = st.tuples(st.just("catch_up"))
clock_back = st.tuples(st.just("clock_back"), st.integers(1, 20))
histories = st.lists(
    st.one_of(new_fact, new_fact, new_fact, correction, retraction, catch_up, clock_back), min_size=16, max_size=48
)
probes = st.lists(
    st.tuples(st.integers(0, 15), st.integers(0, 80), st.integers(0, 9), st.integers(0, 3)), min_size=4, max_size=8
)


class Clock:
    """Transaction time: a second per recording; ``back`` is a writer whose clock is behind."""

    def __init__(self) -> None:
        self.now = datetime(2031, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def back(self, container: Container, seconds: int) -> None:
        self.now -= timedelta(seconds=seconds)
        container.store._last_stamp = self.now - timedelta(days=1)  # noqa: SLF001 - another process's stamps


def play(container: Container, history: list[tuple], actors: list[str], clock: Clock) -> None:
    recorded: list[dict[str, Any]] = []
    for step in history:
        if step[0] == "catch_up":
            container.read_models.catch_up()
        elif step[0] == "clock_back":
            clock.back(container, step[1])
        elif step[0] == "fact":
            _, kind, who, day, reported, count, place = step
            actor = actors[0] if who < 3 else actors[1]
            body = fact_body(kind, actor, actors[2], day, reported, count, place)
            (outcome,) = container.store.record_facts([validate_fact(body)])
            recorded.append(outcome.fact)
        elif recorded:
            change(container, recorded[step[1] % len(recorded)]["event_id"], step)


def change(container: Container, event_id: str, step: tuple) -> None:
    current = container.store.stored_fact(event_id)
    assert current is not None
    if current["status"] == "retracted":
        return
    if step[0] == "retract":
        container.store.retract_fact(event_id, RetractionIn(reason="duplicate", reported_at=step[2]))
        return
    _, _, what, day, count = step
    changes: dict[str, Any] = {what: day} if what != "count" else {}
    if what == "count" and "personnel" in current:
        changes = {"personnel": count}
    try:
        container.store.correct_fact(event_id, CorrectionIn(changes=changes, reason="corrected", reported_at=day))
    except TimelineError:
        pass  # a correction that changes nothing or breaks a rule is refused; nothing is recorded


def stamps(container: Container, start: int) -> list[int]:
    events = container.store.recorder.select_notifications(start=start + 1, limit=10_000)
    return sorted({to_micros(container.store.mapper.to_domain_event(n).timestamp) for n in events})


def axes_of(probe: tuple[int, int, int, int], times: list[int]) -> tuple[int, queries.Axes]:
    at_index, as_of_index, reported_index, _ = probe
    day = DAYS[at_index % len(DAYS)]
    at_us = to_micros(parse_instant(day, date_only_at="end" if at_index < len(DAYS) else "start"))
    as_of = None
    if as_of_index < len(times) * 2:
        as_of = times[as_of_index // 2] - (as_of_index % 2)  # on a change, or just before it
    reported_by = None if reported_index >= len(DAYS) else to_micros(parse_instant(DAYS[reported_index]))
    return at_us, queries.Axes(as_of_us=as_of, reported_by_us=reported_by)


def check(container: Container, history: list[tuple], probe_list: list[tuple[int, int, int, int]]) -> None:
    example = next(_examples)
    actors = [f"k{example}-a", f"k{example}-b", f"k{example}-c"]
    clock = Clock()
    container.store._clock = clock  # noqa: SLF001 - deterministic transaction time
    container.read_models.projection.fold_fanout = 2  # type: ignore[attr-defined]
    start = container.store.max_position()
    play(container, history, actors, clock)
    container.read_models.catch_up()
    times = stamps(container, start)
    with container.engine.connect() as conn:
        for probe in probe_list:
            at_us, axes = axes_of(probe, times)
            expected = {a: queries.actor_state_by_rows(conn, a, axes, at_us) for a in actors}
            for actor in actors:
                got = queries.actor_state(conn, actor, axes, at_us)
                assert got == expected[actor], (actor, at_us, axes)
            only = actors[: 1 + probe[3] % 3]
            named = queries.world_state(conn, axes, at_us, only=only)
            assert named == {a: expected[a] for a in only if expected[a]["event_count"]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, probe_list=probes)
def test_checkpointed_states_equal_the_fold_of_every_row(container: Container, history, probe_list) -> None:  # noqa: ANN001
    check(container, history, probe_list)


def _dropping_the_left(left: summaries.Summary, right: summaries.Summary) -> summaries.Summary:
    return right


def _combine_all_with(combine: Callable[[Any, Any], Any]) -> Callable[[Iterable[Any]], Any]:
    def combine_all(items: Iterable[Any]) -> Any:
        result = summaries.IDENTITY
        for item in items:
            result = combine(result, item)
        return result

    return combine_all


def test_the_property_finds_a_broken_combine(container: Container) -> None:
    """With a combine that loses its left side, the same property fails: it can tell."""

    @settings(
        max_examples=60,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(history=histories, probe_list=probes)
    def run(history, probe_list) -> None:  # noqa: ANN001
        check(container, history, probe_list)

    with (
        mock.patch.object(summaries, "combine", _dropping_the_left),
        mock.patch.object(summaries, "combine_all", _combine_all_with(_dropping_the_left)),
        pytest.raises(AssertionError),
    ):
        run()


def _busy(container: Container, actor: str, facts: int) -> None:
    bodies = [
        validate_fact(fact_body("StatementIssued", actor, "other", DAYS[i % len(DAYS)], DAYS[-1], None, 0))
        for i in range(facts)
    ]
    for index in range(0, facts, 10):
        container.store.record_facts(bodies[index : index + 10])


def _levels(container: Container, actor: str) -> int:
    with container.engine.connect() as conn:
        top = conn.execute(select(func.max(fold_blocks.c.level)).where(fold_blocks.c.actor_id == actor)).scalar()
    return -1 if top is None else int(top)


def test_blocks_split_into_levels_and_rebuild_with_the_read_models(container: Container) -> None:
    container.read_models.projection.fold_fanout = 2  # type: ignore[attr-defined]
    _busy(container, "busy", 60)
    container.read_models.catch_up()
    assert _levels(container, "busy") >= 2, "60 facts in blocks of 2-4 make at least three levels"
    at_us = to_micros(parse_instant(DAYS[4], date_only_at="end"))
    with container.engine.connect() as conn:
        before = queries.actor_state(conn, "busy", queries.Axes(), at_us)
    assert before == _by_rows(container, "busy", at_us)
    with container.engine.begin() as conn:
        conn.execute(delete(fold_blocks))
    container.read_models.rebuild()
    assert _levels(container, "busy") >= 2
    with container.engine.connect() as conn:
        assert queries.actor_state(conn, "busy", queries.Axes(), at_us) == before


def _by_rows(container: Container, actor: str, at_us: int) -> dict[str, Any]:
    with container.engine.connect() as conn:
        return queries.actor_state_by_rows(conn, actor, queries.Axes(), at_us)


def test_migration_0004_builds_the_blocks_of_a_store_with_facts(container: Container) -> None:
    from alembic import command

    from service.demo import load_demo

    load_demo(container.store)
    _busy(container, "busy", 150)
    container.read_models.catch_up()
    config = migrate.alembic_config()
    with container.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    migrate.upgrade(container.engine)
    with container.engine.connect() as conn:
        blocks = conn.execute(
            select(func.count()).where(fold_blocks.c.actor_id == "busy", fold_blocks.c.superseded_us.is_(None))
        ).scalar_one()
    assert blocks == 150 // 32, "150 facts in blocks of 32-63"
    assert _levels(container, "nato") == 0
    at_us = to_micros(parse_instant("2020-01-06", date_only_at="end"))
    with container.engine.connect() as conn:
        for actor in ("busy", "nato", "canada"):
            for axes in (queries.Axes(), queries.Axes(reported_by_us=at_us)):
                assert queries.actor_state(conn, actor, axes, at_us) == queries.actor_state_by_rows(
                    conn, actor, axes, at_us
                )
