"""Facts as a client writes them: one valid fact per type, and changes to make bad ones."""

from __future__ import annotations

import copy
from typing import Any

DROP = object()  # a change that removes the key from the fact

# --- valid facts, one per type (the type table of docs/api.md) -------------------------------

ENVELOPE: dict[str, Any] = {
    "occurred_at": "2020-01-07",
    "summary": "Something happened",
    "sources": [{"url": "https://example.org/article", "publisher": "News Agencies"}],
}

TYPE_PARTS: dict[str, dict[str, Any]] = {
    "StrikeOccurred": {
        "actors": [
            {"id": "us", "role": "perpetrator"},
            {"id": "qasem-soleimani", "role": "target"},
        ],
        "means": "drone",
        "fatalities": 10,
        "target_description": "a convoy near Baghdad airport",
    },
    "MissionSuspended": {
        "actors": [{"id": "nato", "role": "actor"}, {"id": "iraq", "role": "host"}],
        "mission": "nato-mission-iraq",
        "mission_name": "NATO Mission Iraq",
        "personnel": 500,
        "reason": "security",
        "temporary": True,
    },
    "MissionResumed": {
        "actors": [{"id": "nato", "role": "actor"}],
        "mission": "nato-mission-iraq",
    },
    "PersonnelDeployed": {
        "actors": [{"id": "canada", "role": "actor"}, {"id": "iraq", "role": "host"}],
        "personnel": 500,
        "location": {"name": "Iraq", "country": "IQ"},
        "mission": "nato-mission-iraq",
    },
    "PersonnelRepositioned": {
        "actors": [
            {"id": "canada", "role": "actor"},
            {"id": "jonathan-vance", "role": "announced_by"},
        ],
        "personnel": None,
        "from": {"name": "Iraq", "country": "IQ"},
        "to": {"name": "Kuwait", "country": "KW"},
        "temporary": True,
    },
    "StatementIssued": {
        "actors": [
            {"id": "mark-esper", "role": "speaker"},
            {"id": "us", "role": "on_behalf_of"},
        ],
        "text": "We are not leaving Iraq.",
        "channel": "press_conference",
    },
}


def valid_fact(type_: str = "StatementIssued", **changes: Any) -> dict[str, Any]:
    """A valid fact of the type; ``changes`` override keys (``DROP`` removes one).

    ``from`` is a Python keyword: pass it as ``**{"from": ...}``.
    """
    fact = {
        "type": type_,
        **copy.deepcopy(ENVELOPE),
        **copy.deepcopy(TYPE_PARTS[type_]),
    }
    for key, value in changes.items():
        if value is DROP:
            fact.pop(key, None)
        else:
            fact[key] = value
    return fact
