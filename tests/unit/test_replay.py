"""The state fold, without a database."""

from __future__ import annotations

from itertools import count
from typing import Any

from service.domain.replay import fold_state, fold_states, location_key

IRAQ = {"name": "Iraq", "country": "IQ"}
KUWAIT = {"name": "Kuwait", "country": "KW"}
_ids = count(1)


def fact(kind: str, day: str, actors: list[tuple[str, str]], **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"00000000-0000-0000-0000-{next(_ids):012d}",
        "type": kind,
        "occurred_at": f"{day}T00:00:00.000000Z",
        "actors": [{"id": a, "role": r} for a, r in actors],
        **fields,
    }


def deployed(actor: str, n: int, where: dict, day: str = "2020-01-01", mission: str | None = None) -> dict:
    return fact("PersonnelDeployed", day, [(actor, "actor")], personnel=n, location=where, mission=mission)


def moved(actor: str, n: int | None, src: dict | None, dst: dict | None, day: str = "2020-01-05") -> dict:
    return fact("PersonnelRepositioned", day, [(actor, "actor")], personnel=n, **{"from": src, "to": dst})


def test_a_deployment_with_a_mission_makes_it_active_and_a_suspension_suspends_it() -> None:
    facts = [
        deployed("nato", 500, IRAQ, mission="nmi"),
        fact("MissionSuspended", "2020-01-04", [("nato", "actor")], mission="nmi", personnel=None),
    ]
    assert fold_state(facts[:1], "nato")["missions"]["nmi"]["status"] == "active"
    suspended = fold_state(facts, "nato")["missions"]["nmi"]
    assert suspended == {"status": "suspended", "since": "2020-01-04T00:00:00.000000Z", "personnel": 500}


def test_resuming_keeps_the_personnel_and_moves_since() -> None:
    facts = [
        deployed("nato", 500, IRAQ, mission="nmi"),
        fact("MissionSuspended", "2020-01-04", [("nato", "actor")], mission="nmi", personnel=None),
        fact("MissionResumed", "2020-02-01", [("nato", "actor")], mission="nmi"),
    ]
    assert fold_state(facts, "nato")["missions"]["nmi"] == {
        "status": "active",
        "since": "2020-02-01T00:00:00.000000Z",
        "personnel": 500,
    }


def test_a_known_move_shifts_levels_and_never_goes_negative() -> None:
    state = fold_state([deployed("ca", 500, IRAQ), moved("ca", 600, IRAQ, KUWAIT)], "ca")
    assert state["deployments"]["IQ"]["personnel"] == 0
    assert state["deployments"]["KW"] == {"personnel": 600, "personnel_known": True, "location": KUWAIT}


def test_an_unknown_count_marks_both_ends_unknown_and_stays_unknown() -> None:
    state = fold_state(
        [deployed("ca", 500, IRAQ), moved("ca", None, IRAQ, KUWAIT), moved("ca", 10, IRAQ, KUWAIT, "2020-01-06")],
        "ca",
    )
    for key in ("IQ", "KW"):
        assert state["deployments"][key]["personnel"] is None
        assert state["deployments"][key]["personnel_known"] is False


def test_a_move_from_a_location_never_seen_starts_at_zero() -> None:
    state = fold_state([moved("ro", 14, IRAQ, None)], "ro")
    assert state["deployments"]["IQ"] == {"personnel": 0, "personnel_known": True, "location": IRAQ}


def test_a_new_deployment_report_resets_an_unknown_level() -> None:
    state = fold_state(
        [deployed("ca", 500, IRAQ), moved("ca", None, IRAQ, KUWAIT), deployed("ca", 300, IRAQ, "2020-02-01")], "ca"
    )
    assert state["deployments"]["IQ"]["personnel"] == 300
    assert state["deployments"]["IQ"]["personnel_known"] is True


def test_roles_feed_their_own_parts_of_the_state() -> None:
    strike = fact("StrikeOccurred", "2020-01-03", [("us", "perpetrator"), ("qs", "target"), ("trump", "ordered_by")])
    statement = fact("StatementIssued", "2020-01-06", [("esper", "speaker"), ("us", "on_behalf_of")])
    hosted = deployed("nato", 500, IRAQ)
    hosted["actors"].append({"id": "iraq", "role": "host"})
    states = fold_states([hosted, strike, statement])
    assert states["us"]["strikes"] == {"perpetrated": 1, "targeted": 0}
    assert states["us"]["statements"] == 1
    assert states["qs"]["strikes"] == {"perpetrated": 0, "targeted": 1}
    assert states["trump"]["strikes"] == {"perpetrated": 0, "targeted": 0}
    assert states["trump"]["event_count"] == 1
    assert states["iraq"]["deployments"] == {}  # a host does not own the troops
    assert states["us"]["last_event"]["event_id"] == statement["event_id"]
    assert states["us"]["event_count"] == 2


def test_an_actor_with_two_roles_in_one_fact_counts_it_once() -> None:
    statement = fact("StatementIssued", "2020-01-06", [("us", "speaker"), ("us", "on_behalf_of")])
    state = fold_state([statement], "us")
    assert state["event_count"] == 1
    assert state["statements"] == 1


def test_fold_states_restricted_to_actors_includes_them_even_without_facts() -> None:
    states = fold_states([deployed("ca", 1, IRAQ)], ["ca", "nobody"])
    assert states["nobody"]["event_count"] == 0
    assert set(states) == {"ca", "nobody"}


def test_location_key_prefers_id_then_country_then_slugged_name() -> None:
    assert location_key({"id": "erbil", "name": "Erbil", "country": "IQ"}) == "erbil"
    assert location_key({"name": "Iraq", "country": "IQ"}) == "IQ"
    assert location_key({"name": "Another Coalition Base"}) == "another-coalition-base"


def test_folding_the_stored_inputs_gives_the_state_of_folding_whole_facts() -> None:
    """What fact_actors keeps per actor (fold_input) is all the fold needs: the demo data, every actor."""
    from service.demo import demo_data
    from service.domain.facts import validate_fact
    from service.domain.replay import fold_input, fold_inputs, roles_by_actor

    facts = [validate_fact(raw).to_record() for raw in demo_data()["events"]]
    facts.sort(key=lambda f: f["occurred_at"])
    actors = sorted({ref["id"] for f in facts for ref in f["actors"]})
    assert len(actors) > 5
    for actor in actors:
        inputs = []
        for f in facts:
            roles = roles_by_actor(f).get(actor)
            if roles:
                slim = fold_input(f, frozenset(roles))
                assert len(slim) < len(f)
                inputs.append((roles, slim))
        assert fold_inputs(inputs) == fold_state(facts, actor), actor
