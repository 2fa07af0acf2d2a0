"""Facts of the time-travel tests: statements by a speaker, strikes on a target."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.support.facts import valid_fact
from tests.support.reads import state

CORRECTION_SOURCE = {"url": "https://example.org/correction", "publisher": "Wire"}


def statement(speaker: str, occurred_at: str, **changes: Any) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "occurred_at": occurred_at,
        "summary": f"{speaker} speaks on {occurred_at}",
        "actors": [{"id": speaker, "role": "speaker"}],
        **changes,
    }
    return valid_fact("StatementIssued", **parts)


def strike_on(target: str, **changes: Any) -> dict[str, Any]:
    return valid_fact(
        "StrikeOccurred",
        actors=[{"id": "striker", "role": "perpetrator"}, {"id": target, "role": "target"}],
        **changes,
    )


def strike_actors(target: str) -> list[dict[str, str]]:
    return [{"id": "striker", "role": "perpetrator"}, {"id": target, "role": "target"}]


def targeted(client: TestClient, actor: str, **params: Any) -> int:
    return state(client, actor, **params)["strikes"]["targeted"]
