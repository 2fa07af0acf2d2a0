"""Summaries of blocks of facts combine into the state the fold gives for all of them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from service.demo import demo_data
from service.domain import summaries
from service.domain.facts import FACT_TYPES, ROLES, validate_fact
from service.domain.replay import fold_input, fold_inputs, roles_by_actor
from service.domain.summaries import (
    IDENTITY,
    Summary,
    SummaryFormatError,
    combine,
    combine_all,
    from_json,
    state_of,
    summarize,
    then_deployment,
    then_mission,
    to_json,
)

Row = tuple[frozenset[str], dict[str, Any]]

ALL_ROLES = sorted(set().union(*(required | optional for required, optional in ROLES.values())))
# Locations that share a key (three are "IQ"), so that a move keeps the stored location and a
# deployment report replaces it.
PLACES = [
    {"name": "Iraq", "country": "IQ"},
    {"name": "Baghdad", "country": "IQ", "lat": 33.3152, "lon": 44.3661},
    {"id": "erbil", "name": "Erbil", "country": "IQ"},
    {"name": "Kuwait", "country": "KW"},
    {"name": "Camp Buehring"},
]
MISSIONS = ["nmi", "impact"]
HISTORY = (10, 40)  # facts
CUTS = 8
_ids = itertools.count()

COUNTS = [None, 0, 5, 20, 100, 450]  # None: not reported
ABSENT = object()  # a field the fact leaves out
# The types that change missions and deployments twice as often as the ones that only count.
KINDS = [*FACT_TYPES, "MissionSuspended", "MissionResumed", "PersonnelDeployed", "PersonnelRepositioned"]
T = TypeVar("T")


class Choices:
    """Choices read off one drawn integer.

    Hypothesis spends most of a run drawing: one draw per fact keeps a history of 40 facts
    cheap, and shrinking the integer toward 0 still makes the fact simpler.
    """

    def __init__(self, code: int) -> None:
        self.code = code

    def pick(self, options: Sequence[T]) -> T:
        self.code, index = divmod(self.code, len(options))
        return options[index]


def role_options(kind: str) -> list[frozenset[str]]:
    required, optional = ROLES[kind]
    # Mostly the role the fold reads most of; else all the type's roles, none, or every other role.
    return [required, required, required | optional, frozenset(), frozenset(ALL_ROLES) - required]


def fact_fields(kind: str, choose: Choices) -> dict[str, Any]:
    if kind in ("MissionSuspended", "MissionResumed"):
        fields = {"mission": choose.pick(MISSIONS)}
        if kind == "MissionSuspended":
            fields["personnel"] = choose.pick(COUNTS)
        return fields
    if kind == "PersonnelDeployed":
        mission = choose.pick([ABSENT, None, *MISSIONS])
        fields = {"personnel": choose.pick(COUNTS[1:]), "location": choose.pick(PLACES), "mission": mission}
    elif kind == "PersonnelRepositioned":
        ends = [ABSENT, None, *PLACES]
        fields = {"personnel": choose.pick(COUNTS), "from": choose.pick(ends), "to": choose.pick(ends)}
    else:
        return {}
    return {key: value for key, value in fields.items() if value is not ABSENT}


def fold_row(code: int) -> Row:
    """One actor's (roles, fold input) for a fact, through ``replay.fold_input`` as stored."""
    choose = Choices(code)
    kind = choose.pick(KINDS)
    roles = choose.pick(role_options(kind))
    n = next(_ids)
    # A time of its own per fact, so that a wrong `since` shows.
    fact = {"event_id": f"e{n}", "type": kind, "occurred_at": f"2020-01-01T00:00:00.{n:06d}Z"}
    fact.update(fact_fields(kind, choose))
    return roles, fold_input(fact, roles)


facts = st.integers(0, 2**24).map(fold_row)
histories = st.lists(facts, min_size=HISTORY[0], max_size=HISTORY[1])
blocks = st.lists(facts, max_size=HISTORY[1] // 3)


@st.composite
def splits(draw: st.DrawFn) -> tuple[list[Row], list[list[Row]]]:
    """A history and the same history cut into consecutive blocks (some empty)."""
    history = draw(histories)
    cuts = sorted(draw(st.lists(st.integers(0, len(history)), max_size=CUTS)))
    bounds = [0, *cuts, len(history)]
    return history, [history[a:b] for a, b in itertools.pairwise(bounds)]


def json_bytes(value: Any) -> bytes:
    # Byte equality also checks the order of keys, which == on dicts does not.
    return orjson.dumps(value)


def stored(summary: Summary) -> Summary:
    return from_json(orjson.loads(orjson.dumps(to_json(summary))))


def split_state_is_fold_state(case: tuple[list[Row], list[list[Row]]]) -> bool:
    history, parts = case
    combined = combine_all(stored(summarize(block)) for block in parts)
    return json_bytes(state_of(combined)) == json_bytes(fold_inputs(history))


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(splits())
def test_combined_block_summaries_give_the_state_of_folding_every_fact(case: tuple[list[Row], list[list[Row]]]) -> None:
    history, parts = case
    expected = fold_inputs(history)
    assert state_of(summarize(history)) == expected
    combined = combine_all(stored(summarize(block)) for block in parts)
    assert json_bytes(state_of(combined)) == json_bytes(expected)


@FAST
@given(blocks, blocks, blocks)
def test_combining_is_associative(a: list[Row], b: list[Row], c: list[Row]) -> None:
    x, y, z = summarize(a), summarize(b), summarize(c)
    left_first = combine(combine(x, y), z)
    right_first = combine(x, combine(y, z))
    assert json_bytes(to_json(left_first)) == json_bytes(to_json(right_first))
    assert json_bytes(to_json(left_first)) == json_bytes(to_json(summarize(a + b + c)))


@FAST
@given(histories)
def test_the_identity_changes_nothing(history: list[Row]) -> None:
    summary = summarize(history)
    assert summarize([]) == IDENTITY
    for combined in (combine(IDENTITY, summary), combine(summary, summarize([])), combine_all([IDENTITY, summary])):
        assert json_bytes(to_json(combined)) == json_bytes(to_json(summary))
    assert state_of(IDENTITY) == fold_inputs([])


@FAST
@given(histories)
def test_a_summary_survives_a_round_trip_through_json(history: list[Row]) -> None:
    summary = summarize(history)
    back = stored(summary)
    assert back == summary
    assert json_bytes(to_json(back)) == json_bytes(to_json(summary))


def test_the_demo_data_cut_anywhere_gives_every_actor_its_fold_state() -> None:
    facts = sorted((validate_fact(raw).to_record() for raw in demo_data()["events"]), key=lambda f: f["occurred_at"])
    for actor in sorted({ref["id"] for f in facts for ref in f["actors"]}):
        rows = [(frozenset(r), fold_input(f, r)) for f in facts if (r := roles_by_actor(f).get(actor))]
        expected = json_bytes(fold_inputs(rows))
        for cut in range(len(rows) + 1):
            combined = combine(stored(summarize(rows[:cut])), stored(summarize(rows[cut:])))
            assert json_bytes(state_of(combined)) == expected, (actor, cut)


def test_state_of_gives_a_dict_of_its_own() -> None:
    summary = summarize([(frozenset({"actor"}), fold_input(deployed(500, PLACES[1], "nmi"), frozenset({"actor"})))])
    state = state_of(summary)
    state["deployments"]["IQ"]["location"]["name"] = "changed"
    state["missions"]["nmi"]["status"] = "changed"
    assert state_of(summary) == fold_inputs([(frozenset({"actor"}), deployed(500, PLACES[1], "nmi"))])


def test_a_suspension_and_resumption_inside_a_block_moves_since_after_an_active_block() -> None:
    """The case a summary without `forced` on the right-hand side gets wrong: active, then (suspended, active)."""
    first = [row("MissionResumed", 1, mission="nmi")]
    second = [row("MissionSuspended", 2, mission="nmi", personnel=None), row("MissionResumed", 3, mission="nmi")]
    state = state_of(combine(summarize(first), summarize(second)))
    assert state["missions"]["nmi"] == {"status": "active", "since": "2020-01-03T00:00:00.000000Z", "personnel": None}
    assert state == fold_inputs(first + second)


def test_a_level_emptied_in_one_block_and_refilled_in_the_next_is_the_refill() -> None:
    kuwait = {"name": "Kuwait", "country": "KW"}
    first = [
        row("PersonnelDeployed", 1, personnel=100, location=kuwait),
        row("PersonnelRepositioned", 2, personnel=450, **{"from": kuwait}),  # 450 of 100 leave: 0
    ]
    second = [row("PersonnelRepositioned", 3, personnel=20, to=kuwait)]
    state = state_of(combine(stored(summarize(first)), stored(summarize(second))))
    assert state["deployments"]["KW"] == {"personnel": 20, "personnel_known": True, "location": kuwait}
    assert state == fold_inputs(first + second)


@pytest.mark.parametrize(
    "obj",
    [None, "x", [], to_json(IDENTITY)[:-1], [2, *to_json(IDENTITY)[1:]], [*to_json(IDENTITY)[:6], {}, []]],
    ids=["null", "string", "empty", "short", "another format", "missions not an array"],
)
def test_anything_but_a_stored_summary_is_refused(obj: Any) -> None:
    with pytest.raises(SummaryFormatError):
        from_json(obj)


def deployed(n: int, where: dict[str, Any], mission: str | None = None) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "type": "PersonnelDeployed",
        "occurred_at": "2020-01-01T00:00:00.000000Z",
        "personnel": n,
        "location": dict(where),
        "mission": mission,
    }


def row(kind: str, day: int, **fields: Any) -> Row:
    fact = {"event_id": f"e{day}", "type": kind, "occurred_at": f"2020-01-{day:02d}T00:00:00.000000Z", **fields}
    return frozenset({"actor"}), fact


# Each breaks one rule of composition (the originals are the names imported above); the
# property must find a history that shows it.
def _mission_ignoring_later_forced(first: Any, second: Any) -> Any:
    name, status, since, _, personnel = second
    personnel = first[4] if personnel is None else personnel
    if first[1] != status:
        return [name, status, since, True, personnel]
    return [name, status, first[2], first[3], personnel]


def _mission_dropping_forced(first: Any, second: Any) -> Any:
    name, status, since, _, personnel = then_mission(first, second)
    return [name, status, since, False, personnel]


def _mission_keeping_first_personnel(first: Any, second: Any) -> Any:
    *composed, _ = then_mission(first, second)
    return [*composed, first[4] if first[4] is not None else second[4]]


def _deployments_in_the_wrong_order(first: Any, second: Any) -> Any:
    return then_deployment(second, first)


def _affine_bounds_swapped(first: Any, second: Any) -> Any:
    key, a, b, overwrite, location = then_deployment(first, second)
    if first[1] is None or second[1] is None:
        return [key, a, b, overwrite, location]
    return [key, a, max(second[2] + first[1], first[2]), overwrite, location]


def _location_never_overwritten(first: Any, second: Any) -> Any:
    key, a, b, _, _ = then_deployment(first, second)
    return [key, a, b, first[3], first[4]]


BROKEN: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "later forced ignored": ("then_mission", _mission_ignoring_later_forced),
    "forced dropped": ("then_mission", _mission_dropping_forced),
    "first personnel kept": ("then_mission", _mission_keeping_first_personnel),
    "deployments in the wrong order": ("then_deployment", _deployments_in_the_wrong_order),
    "affine bounds swapped": ("then_deployment", _affine_bounds_swapped),
    "location never overwritten": ("then_deployment", _location_never_overwritten),
}


@pytest.mark.parametrize("name", BROKEN)
def test_the_property_catches_a_broken_composition(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    attribute, broken = BROKEN[name]
    monkeypatch.setattr(summaries, attribute, broken)
    # Without shrinking: that a counterexample exists is the point, not the smallest one.
    quick = settings(max_examples=1000, deadline=None, database=None, phases=[Phase.generate])
    history, _ = find(splits(), lambda case: not split_state_is_fold_state(case), settings=quick)
    assert history
