"""The maintained tallies answer exactly what the scan of the facts answers.

For random histories (facts across day edges, before 1970 too; corrections moving their
date, actors and fatalities; retractions; late facts), counts per day for every filter
and both time axes, and the actors' list, equal the scan's; the migration fills the
tallies of an existing store, and a rebuild rebuilds them, to the same rows.
"""

from __future__ import annotations

import itertools

from alembic import command
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service import migrate
from service.bootstrap import Container, bootstrap
from service.domain.facts import validate_fact
from service.domain.instants import parse_instant, to_micros
from service.domain.stats import bucket_counts
from service.readmodels import queries
from service.readmodels.tables import fact_revisions
from service.settings import Settings
from tests.support.reads import get_ok
from tests.support.tallies import OCCURRED, REPORTED, fact_body, fake_clock, held, histories, play

FROMS = [None, "1969-12-31", "1969-12-31T12:00:00Z", "2020-01-01", "2020-01-01T23:59:59Z", "2020-01-05T07:00:00Z"]
TOS = [None, "1970-01-01", "1969-12-31T23:59:59Z", "2020-01-01T12:00:00Z", "2020-01-02", "2020-02-01T01:00:00Z"]
probe = st.tuples(
    st.sampled_from(FROMS),
    st.sampled_from(TOS),
    st.sampled_from([(), ("StrikeOccurred",), ("StrikeOccurred", "StatementIssued")]),
    st.sampled_from([(), (0,), (1,), (0, 1)]),
    st.sampled_from([None, None, None, "target"]),
    st.one_of(st.none(), st.integers(0, 60)),  # as_of: on a change, or just before it
    st.one_of(st.none(), st.none(), st.sampled_from(REPORTED)),
)
_examples = itertools.count()


def _micros(value: str | None, end: bool) -> int | None:
    return None if value is None else to_micros(parse_instant(value, date_only_at="end" if end else "start"))


def _probe(probe: tuple, actors: list[str], stamps: list[int]) -> tuple[queries.Axes, queries.FactFilter]:
    lower, upper, types, named, role, as_of_index, reported_by = probe
    as_of = None
    if as_of_index is not None:
        as_of = stamps[as_of_index // 2] - as_of_index % 2 if as_of_index // 2 < len(stamps) else stamps[-1] + 1
    axes = queries.Axes(as_of_us=as_of, reported_by_us=_micros(reported_by, end=True))
    filt = queries.FactFilter(
        types=types,
        actors=[actors[i] for i in named],
        role=role,
        from_us=_micros(lower, end=False),
        to_us=_micros(upper, end=True),
    )
    return axes, filt


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, probes=st.lists(probe, min_size=4, max_size=8))
def test_counts_from_the_tallies_equal_the_scan(container: Container, history, probes) -> None:  # noqa: ANN001
    example = next(_examples)
    actors = [f"t{example}-a", f"t{example}-b", f"t{example}-c"]
    container.store._clock = fake_clock  # noqa: SLF001 - deterministic transaction time
    container.read_models.projection.checkpoint_every = 3  # type: ignore[attr-defined]
    play(container, history, actors)
    with container.engine.connect() as conn:
        stamps = sorted(conn.execute(select(fact_revisions.c.recorded_us)).scalars())
        listed = queries.list_actors(conn, None, 1000).items
        assert listed == queries.list_actors(conn, None, 1000, scan=True).items
        for each in probes:
            axes, filt = _probe(each, actors, stamps)
            got = sorted(queries.daily_counts(conn, axes, filt))
            assert got == sorted(queries.scan_daily_counts(conn, axes, filt)), each


def _store_with_history(container: Container) -> None:
    from service.demo import load_demo

    load_demo(container.store)
    history = [
        (("fact", "StrikeOccurred", 0, 1, "1969-12-31T23:59:59Z", "2020-03-01", 4), False),
        (("fact", "StatementIssued", 1, 1, "2020-01-01", "2020-03-01", 0), True),
        (("correct", 0, "occurred_at", "1970-01-01T00:00:00Z", 0, 0, "2020-03-02"), False),
        (("correct", 0, "fatalities", "2020-01-01", 0, 9, "2020-03-02"), True),
        (("correct", 1, "actors", "2020-01-01", 2, 0, "2020-03-03"), False),
        (("retract", 1, "2020-03-03"), True),
    ]
    play(container, history, ["nato", "us", "iran"])


def _as_of_answers(container: Container) -> list[tuple[list, list]]:
    """Counts as of every change and just before it, from the tallies and from the scan."""
    with container.engine.connect() as conn:
        stamps = sorted(set(conn.execute(select(fact_revisions.c.recorded_us)).scalars()))
        answers = []
        for as_of in [t - k for t in stamps for k in (0, 1)]:
            axes = queries.Axes(as_of_us=as_of)
            answers.append(
                (
                    sorted(queries.daily_counts(conn, axes, queries.FactFilter())),
                    sorted(queries.scan_daily_counts(conn, axes, queries.FactFilter())),
                )
            )
    return answers


def test_the_migration_fills_the_tallies_of_an_existing_store(container: Container) -> None:
    _store_with_history(container)
    maintained = held(container)
    assert maintained["day_counts"] and maintained["day_count_changes"] and maintained["actor_totals"]
    config = migrate.alembic_config()
    with container.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    migrate.upgrade(container.engine)
    assert held(container) == maintained
    assert all(got == scanned for got, scanned in _as_of_answers(container))


def test_a_change_applied_after_a_later_checkpoint_is_counted_in_it(container: Container, settings: Settings) -> None:
    """Two processes append with their own clocks: a checkpoint takes in the changes that reach
    the log after it with an earlier time."""
    container.read_models.projection.checkpoint_every = 1  # type: ignore[attr-defined]
    ahead = bootstrap(settings, apply_migrations=False, clock=fake_clock)  # its clock is years ahead
    try:
        for step, store in enumerate((container.store, ahead.store, container.store, ahead.store)):
            body = fact_body("StrikeOccurred", "a", "b", OCCURRED[step], REPORTED[0], step + 1)
            store.record_facts([validate_fact(body)])
            container.read_models.catch_up()  # a checkpoint after each
    finally:
        ahead.close()
    answers = _as_of_answers(container)
    assert len(answers) == 8 and all(got == scanned for got, scanned in answers)
    assert any(got for got, _ in answers) and any(not got for got, _ in answers)


def test_a_rebuild_rebuilds_the_tallies(container: Container) -> None:
    container.read_models.projection.checkpoint_every = 2  # type: ignore[attr-defined]
    _store_with_history(container)
    maintained = held(container)
    container.read_models.rebuild()
    assert held(container) == maintained
    # Checkpoints fall where the rebuild's batches end, not where the first run's did.
    assert held(container, checkpoints=True)["day_count_checkpoints"]
    assert all(got == scanned for got, scanned in _as_of_answers(container))


def test_stats_by_week_and_month_add_up_the_scanned_days(client: TestClient, container: Container) -> None:
    _store_with_history(container)
    cases = [  # the history spans 1969 to 2020: too many days without a window
        {"from": "2019-12-01", "to": "2020-02-01"},
        {"actor": "nato", "from": "2020-01-03T12:00:00Z", "to": "2020-01-09"},
        {"type": "StrikeOccurred", "as_of": "2030-01-01", "from": "2019-12-01T06:00:00Z", "to": "2020-03-01"},
    ]
    for params in cases:
        filt = queries.FactFilter(
            types=[params["type"]] if "type" in params else [],
            actors=[params["actor"]] if "actor" in params else [],
            from_us=_micros(params.get("from"), end=False),
            to_us=_micros(params.get("to"), end=True),
        )
        axes = queries.Axes(as_of_us=_micros(params.get("as_of"), end=True))
        with container.engine.connect() as conn:
            scanned = queries.scan_daily_counts(conn, axes, filt)
        first = parse_instant(params["from"], date_only_at="start").date() if "from" in params else None
        last = parse_instant(params["to"], date_only_at="end").date() if "to" in params else None
        for by in ("day", "week", "month"):
            buckets, total = bucket_counts(scanned, by, first, last)  # type: ignore[arg-type]
            answer = get_ok(client, "/v1/stats", by=by, **params)
            assert (answer["buckets"], answer["total"]) == (buckets, total), (params, by)
            assert total["count"] > 0
