"""Facts of small random histories, for the property tests that replay them on the read models."""

from __future__ import annotations

from service.domain.facts import FACT_TYPES

DAYS = [f"2020-01-{d:02d}" for d in range(1, 9)]
KINDS = list(FACT_TYPES)
PLACES = [{"name": "Iraq", "country": "IQ"}, {"name": "Kuwait", "country": "KW"}, {"name": "Jordan", "country": "JO"}]


def fact_body(kind: str, actor: str, other: str, day: str, reported: str, count: int | None, place: int) -> dict:
    base = {"occurred_at": day, "reported_at": reported, "summary": f"{kind} by {actor}"}
    if kind == "StrikeOccurred":
        return {**base, "type": kind, "actors": [{"id": actor, "role": "perpetrator"}, {"id": other, "role": "target"}]}
    if kind == "PersonnelDeployed":
        return {
            **base,
            "type": kind,
            "actors": [{"id": actor, "role": "actor"}],
            "personnel": count or 0,
            "location": PLACES[place],
        }
    if kind == "PersonnelRepositioned":
        return {
            **base,
            "type": kind,
            "actors": [{"id": actor, "role": "actor"}],
            "personnel": count,
            "from": PLACES[place],
            "to": PLACES[(place + 1) % 3],
        }
    if kind in ("MissionSuspended", "MissionResumed"):
        return {**base, "type": kind, "actors": [{"id": actor, "role": "actor"}], "mission": "m1"}
    return {**base, "type": "StatementIssued", "actors": [{"id": actor, "role": "speaker"}], "text": "t"}
