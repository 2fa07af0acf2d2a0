"""Partial state folds that combine: one value stands for a block of an actor's facts.

Each fact changes an actor's state by a function of that state, and the
compositions of these functions stay in a small family, so a block of facts
is summarised by one `Summary`, and the summaries of consecutive blocks
combine, associatively, into the summary of all their facts. A read can then
combine a few stored summaries instead of folding every fact since the first.

What a summary holds, per part of the state (``replay.apply_fact``):

- the counts, which add up, and the last event, the right-most one;
- per mission, ``(status, since, forced, personnel)``: the status is set;
  ``since`` is replaced when ``forced`` (the status changed inside the block)
  or when the status differs from the one before; ``personnel`` is replaced
  unless None;
- per deployment location, the level as ``Const(v)`` or
  ``Affine(a, b): x -> max(x + a, b)`` (unknown levels stay unknown through an
  affine step), and the stored location with whether the block overwrote it.

A location or mission the block never names is absent from its summary, and
the identity for it. The mappings keep the order in which the facts first
named their keys, as the fold does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from service.domain.replay import MISSION_ACTIVE, MISSION_SUSPENDED, STATEMENT_ROLES, location_key

# Bumped whenever the JSON form changes, so that stored summaries of an older form are refused.
FORMAT_VERSION = 1
# A deployment level that is not known. Levels are otherwise natural numbers, so -1 is free,
# and keeps every level an int (in JSON too).
UNKNOWN = -1

# (status, since, forced, personnel)
MissionChange = tuple[str, str, bool, int | None]
# (a, b, overwrite, location): with a None, the level becomes b; otherwise max(level + a, b),
# with b >= 0 and an unknown level staying unknown. The location is the one stored when the
# block overwrote it (a deployment report), or when the location was absent before.
DeploymentChange = tuple[int | None, int, bool, Mapping[str, Any]]
# (event_id, type, occurred_at)
LastEvent = tuple[str, str, str]


class SummaryFormatError(ValueError):
    """A stored summary that is not of this module's JSON form."""


@dataclass(frozen=True, slots=True)
class Summary:
    """The effect of a block of one actor's facts on its state.

    Nothing in a summary is mutated once built: summaries share their parts.
    """

    event_count: int = 0
    perpetrated: int = 0
    targeted: int = 0
    statements: int = 0
    last_event: LastEvent | None = None
    missions: Mapping[str, MissionChange] = field(default_factory=dict)
    deployments: Mapping[str, DeploymentChange] = field(default_factory=dict)


IDENTITY = Summary()


def empty() -> Summary:
    return IDENTITY


def then_mission(first: MissionChange, second: MissionChange) -> MissionChange:
    """``first``, then ``second``, as one change of a mission."""
    status, since, forced, personnel = second
    if personnel is None:
        personnel = first[3]
    if forced or first[0] != status:
        return (status, since, True, personnel)
    return (status, first[1], first[2], personnel)


def then_deployment(first: DeploymentChange, second: DeploymentChange) -> DeploymentChange:
    """``first``, then ``second``, as one change of a deployment."""
    a2, b2, overwrite, location = second
    a1, b1, overwrite1, location1 = first
    if not overwrite:
        overwrite, location = overwrite1, location1
    if a2 is None:
        return (None, b2, overwrite, location)
    if a1 is None:
        return (None, b1 if b1 == UNKNOWN else max(b1 + a2, b2), overwrite, location)
    return (a1 + a2, max(b1 + a2, b2), overwrite, location)


class _Accumulator:
    """A summary being built: owns its dicts, so it may update them in place."""

    __slots__ = ("event_count", "perpetrated", "targeted", "statements", "last_event", "missions", "deployments")

    def __init__(self) -> None:
        self.event_count = 0
        self.perpetrated = 0
        self.targeted = 0
        self.statements = 0
        self.last_event: LastEvent | None = None
        self.missions: dict[str, MissionChange] = {}
        self.deployments: dict[str, DeploymentChange] = {}

    def mission(self, name: str, change: MissionChange) -> None:
        before = self.missions.get(name)
        self.missions[name] = change if before is None else then_mission(before, change)

    def deployment(self, key: str, change: DeploymentChange) -> None:
        before = self.deployments.get(key)
        self.deployments[key] = change if before is None else then_deployment(before, change)

    def add(self, summary: Summary) -> None:
        self.event_count += summary.event_count
        self.perpetrated += summary.perpetrated
        self.targeted += summary.targeted
        self.statements += summary.statements
        if summary.last_event is not None:
            self.last_event = summary.last_event
        missions = self.missions
        for name, change in summary.missions.items():
            before = missions.get(name)
            missions[name] = change if before is None else then_mission(before, change)
        deployments = self.deployments
        for key, step in summary.deployments.items():
            earlier = deployments.get(key)
            deployments[key] = step if earlier is None else then_deployment(earlier, step)

    def fact(self, roles: AbstractSet[str], fact: Mapping[str, Any]) -> None:
        """Mirrors ``replay.apply_fact``."""
        kind = fact["type"]
        self.event_count += 1
        self.last_event = (fact["event_id"], kind, fact["occurred_at"])
        if kind == "StrikeOccurred":
            self.perpetrated += "perpetrator" in roles
            self.targeted += "target" in roles
        elif kind == "StatementIssued" and roles & STATEMENT_ROLES:
            self.statements += 1
        if "actor" in roles:
            self._as_actor(fact)

    def _as_actor(self, fact: Mapping[str, Any]) -> None:
        kind = fact["type"]
        since = fact["occurred_at"]
        if kind == "MissionSuspended":
            self.mission(fact["mission"], (MISSION_SUSPENDED, since, False, fact.get("personnel")))
        elif kind == "MissionResumed":
            self.mission(fact["mission"], (MISSION_ACTIVE, since, False, None))
        elif kind == "PersonnelDeployed":
            location = fact["location"]
            self.deployment(location_key(location), (None, fact["personnel"], True, dict(location)))
            if fact.get("mission"):
                self.mission(fact["mission"], (MISSION_ACTIVE, since, False, fact["personnel"]))
        elif kind == "PersonnelRepositioned":
            count = fact.get("personnel")
            if fact.get("from"):
                self._move(fact["from"], None if count is None else -count)
            if fact.get("to"):
                self._move(fact["to"], count)

    def _move(self, location: Mapping[str, Any], delta: int | None) -> None:
        # A location never seen starts at a known 0: the location is stored as if absent.
        change = (None, UNKNOWN, False, dict(location)) if delta is None else (delta, 0, False, dict(location))
        self.deployment(location_key(location), change)

    def summary(self) -> Summary:
        return Summary(
            self.event_count,
            self.perpetrated,
            self.targeted,
            self.statements,
            self.last_event,
            self.missions,
            self.deployments,
        )


def summarize(rows: Iterable[tuple[AbstractSet[str], Mapping[str, Any]]]) -> Summary:
    """The summary of one actor's facts: (its roles, ``replay.fold_input``) pairs in fact order."""
    acc = _Accumulator()
    for roles, fact in rows:
        acc.fact(roles, fact)
    return acc.summary()


def combine(left: Summary, right: Summary) -> Summary:
    """The summary of ``left``'s facts followed by ``right``'s."""
    if left is IDENTITY:
        return right
    if right is IDENTITY:
        return left
    return combine_all((left, right))


def combine_all(summaries: Iterable[Summary]) -> Summary:
    """The summary of the blocks' facts, block after block."""
    acc = _Accumulator()
    for summary in summaries:
        acc.add(summary)
    return acc.summary()


def state_of(summary: Summary) -> dict[str, Any]:
    """The state that ``replay.fold_inputs`` gives for the summarised facts: a fresh dict, the caller's to change."""
    last = summary.last_event
    return {
        "missions": {
            name: {"status": status, "since": since, "personnel": personnel}
            for name, (status, since, _, personnel) in summary.missions.items()
        },
        "deployments": {key: _deployment_state(change) for key, change in summary.deployments.items()},
        "strikes": {"perpetrated": summary.perpetrated, "targeted": summary.targeted},
        "statements": summary.statements,
        "event_count": summary.event_count,
        "last_event": None if last is None else {"event_id": last[0], "type": last[1], "occurred_at": last[2]},
    }


def _deployment_state(change: DeploymentChange) -> dict[str, Any]:
    a, b, _, location = change
    # Before the first fact the location is absent: a known 0.
    level = b if a is None else max(a, b)
    known = level != UNKNOWN
    return {"personnel": level if known else None, "personnel_known": known, "location": dict(location)}


def to_json(summary: Summary) -> list[Any]:
    """A JSON-ready form. Ordered mappings are lists of pairs, since JSONB would sort object keys."""
    return [
        FORMAT_VERSION,
        summary.event_count,
        summary.perpetrated,
        summary.targeted,
        summary.statements,
        summary.last_event,
        [[name, *change] for name, change in summary.missions.items()],
        [
            [key, a, b, overwrite, list(location.items())]
            for key, (a, b, overwrite, location) in summary.deployments.items()
        ],
    ]


def from_json(obj: Any) -> Summary:
    """The summary ``to_json`` gave ``obj`` for; raises SummaryFormatError for anything else."""
    try:
        version, events, perpetrated, targeted, statements, last, missions, deployments = obj
        if version != FORMAT_VERSION:
            raise SummaryFormatError(f"a summary of format {version!r}; this service reads format {FORMAT_VERSION}")
        return Summary(
            events,
            perpetrated,
            targeted,
            statements,
            None if last is None else (last[0], last[1], last[2]),
            {name: (status, since, forced, personnel) for name, status, since, forced, personnel in missions},
            {key: (a, b, overwrite, dict(location)) for key, a, b, overwrite, location in deployments},
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SummaryFormatError):
            raise
        raise SummaryFormatError(f"not a stored summary: {exc}") from None
