"""The state fold: an actor's situation from an ordered list of facts.

Pure: the caller selects and orders the facts (by ``occurred_at`` then
``position``) under whatever time filters it needs; this module only folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from service.domain.facts import slugify

STATEMENT_ROLES = frozenset({"speaker", "on_behalf_of"})
MISSION_ACTIVE = "active"
MISSION_SUSPENDED = "suspended"


def location_key(location: Mapping[str, Any]) -> str:
    """``location.id``, else the country code, else the slugged name."""
    return location.get("id") or location.get("country") or slugify(location.get("name", ""))


def empty_state() -> dict[str, Any]:
    return {
        "missions": {},
        "deployments": {},
        "strikes": {"perpetrated": 0, "targeted": 0},
        "statements": 0,
        "event_count": 0,
        "last_event": None,
    }


def roles_by_actor(fact: Mapping[str, Any]) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for ref in fact["actors"]:
        roles.setdefault(ref["id"], set()).add(ref["role"])
    return roles


# What ``apply_fact`` reads of a fact beyond its id, type and time, when the
# actor plays "actor" in it; in any other role it reads nothing more.
_ACTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "MissionSuspended": ("mission", "personnel"),
    "MissionResumed": ("mission",),
    "PersonnelDeployed": ("location", "personnel", "mission"),
    "PersonnelRepositioned": ("from", "to", "personnel"),
}


def fold_input(fact: Mapping[str, Any], roles: set[str] | frozenset[str]) -> dict[str, Any]:
    """The part of a fact that folding it into one actor's state reads.

    Stored per (actor, fact version), it lets the state at a date be folded
    without reading and decoding whole facts: ``apply_fact`` gives the same
    state from this as from the fact.
    """
    slim = {"event_id": fact["event_id"], "type": fact["type"], "occurred_at": fact["occurred_at"]}
    if "actor" in roles:
        for key in _ACTOR_FIELDS.get(fact["type"], ()):
            if key in fact:
                slim[key] = fact[key]
    return slim


def apply_fact(state: dict[str, Any], fact: Mapping[str, Any], roles: AbstractSet[str]) -> None:
    """Fold one fact into one actor's state, given the roles the actor plays in it."""
    state["event_count"] += 1
    state["last_event"] = {
        "event_id": fact["event_id"],
        "type": fact["type"],
        "occurred_at": fact["occurred_at"],
    }
    if "perpetrator" in roles and fact["type"] == "StrikeOccurred":
        state["strikes"]["perpetrated"] += 1
    if "target" in roles and fact["type"] == "StrikeOccurred":
        state["strikes"]["targeted"] += 1
    if roles & STATEMENT_ROLES and fact["type"] == "StatementIssued":
        state["statements"] += 1
    if "actor" in roles:
        _apply_as_actor(state, fact)


def _apply_as_actor(state: dict[str, Any], fact: Mapping[str, Any]) -> None:
    kind = fact["type"]
    missions = state["missions"]
    deployments = state["deployments"]
    mission = fact.get("mission")
    if kind == "MissionSuspended":
        _set_mission(missions, fact["mission"], MISSION_SUSPENDED, fact["occurred_at"], fact.get("personnel"))
    elif kind == "MissionResumed":
        _set_mission(missions, fact["mission"], MISSION_ACTIVE, fact["occurred_at"], None)
    elif kind == "PersonnelDeployed":
        location = fact["location"]
        deployments[location_key(location)] = {
            "personnel": fact["personnel"],
            "personnel_known": True,
            "location": location,
        }
        if mission:
            _set_mission(missions, mission, MISSION_ACTIVE, fact["occurred_at"], fact["personnel"])
    elif kind == "PersonnelRepositioned":
        count = fact.get("personnel")
        if fact.get("from"):
            _move(deployments, fact["from"], None if count is None else -count)
        if fact.get("to"):
            _move(deployments, fact["to"], count)


def _set_mission(missions: dict[str, Any], mission: str, status: str, since: str, personnel: int | None) -> None:
    current = missions.get(mission)
    if current is None:
        missions[mission] = {"status": status, "since": since, "personnel": personnel}
        return
    if current["status"] != status:
        current["status"] = status
        current["since"] = since
    if personnel is not None:
        current["personnel"] = personnel


def _move(deployments: dict[str, Any], location: Mapping[str, Any], delta: int | None) -> None:
    """Shift the level at a location; an unknown delta makes the level unknown.

    A location never seen before starts at a known 0, and levels never go negative.
    """
    key = location_key(location)
    entry = deployments.get(key)
    if entry is None:
        entry = deployments[key] = {"personnel": 0, "personnel_known": True, "location": location}
    if delta is None or not entry["personnel_known"]:
        entry["personnel"] = None
        entry["personnel_known"] = False
    else:
        entry["personnel"] = max(entry["personnel"] + delta, 0)


def fold_states(facts: Iterable[Mapping[str, Any]], actors: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each actor's state after the given facts, in the order given.

    With ``actors``, only those actors are folded (and each appears, even
    with no fact); without, every actor that any fact names.
    """
    wanted = None if actors is None else set(actors)
    states: dict[str, dict[str, Any]] = {a: empty_state() for a in wanted or ()}
    for fact in facts:
        for actor, roles in roles_by_actor(fact).items():
            if wanted is not None and actor not in wanted:
                continue
            state = states.get(actor)
            if state is None:
                state = states[actor] = empty_state()
            apply_fact(state, fact, roles)
    return states


def fold_state(facts: Iterable[Mapping[str, Any]], actor: str) -> dict[str, Any]:
    return fold_states(facts, [actor])[actor]


def fold_inputs(rows: Iterable[tuple[set[str] | frozenset[str], Mapping[str, Any]]]) -> dict[str, Any]:
    """One actor's state from (its roles, ``fold_input``) pairs, in fact order."""
    state = empty_state()
    for roles, slim in rows:
        apply_fact(state, slim, roles)
    return state
